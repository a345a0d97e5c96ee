import Pool
import Testing

@testable import CLoop

/// `PeakHold` alone: a rise shows at once, a fall only after two rotations.
struct PeakHoldTests {
    func forecast(_ atQuantile: Double) -> Forecast { Forecast(expected: atQuantile / 2, atQuantile: atQuantile, confidence: 0.5) }

    @Test func aRiseShowsAtOnceAFallOnlyOnceBothHalvesSawIt() {
        var peak = PeakHold()
        #expect(peak.held == .zero)
        peak.observe(forecast(1))
        peak.observe(forecast(3))
        peak.observe(forecast(2))
        #expect(peak.held == forecast(3))
        // The fall to 1 core: held through the half it started in and the next one.
        peak.rotate()
        peak.observe(forecast(1))
        #expect(peak.held == forecast(3))
        peak.rotate()
        peak.observe(forecast(1))
        #expect(peak.held == forecast(1))
        // A rise within a half shows on the tick it comes.
        peak.observe(forecast(5))
        #expect(peak.held == forecast(5))
    }

    /// Forecasts are compared by their value at quantile, whatever their expected values.
    @Test func thePeakIsTheHighestValueAtQuantile() {
        var peak = PeakHold()
        let wide = Forecast(expected: 0.1, atQuantile: 2, confidence: 0)
        peak.observe(wide)
        peak.observe(Forecast(expected: 1.5, atQuantile: 1.6, confidence: 1))
        #expect(peak.held == wide)
    }
}
