import Pool

/// Two rates for one tenant-resource: a fast path updated on every tick (milliseconds to seconds) and a slow path
/// on samples aggregated to a coarse step (minutes, with a daily season).
///
/// The slow path sees the mean of each coarse step. Its forecast for the current coarse step is the reference
/// that the fast path blends with its own models (by their recent errors, see `Forecaster`), so the tick forecast
/// knows the time of day without storing a day of ticks. O(1) per update, no allocation after `init`.
public struct TwoRateForecaster: Sendable, Hashable, Codable {
    public private(set) var fast: Forecaster
    public private(set) var slow: Forecaster
    /// Index of the coarse step being aggregated (floor(time / slow step)); nil before the first sample.
    public private(set) var aggregatingStep: Int?
    public private(set) var aggregateSum = 0.0
    public private(set) var aggregateCount = 0
    /// The slow path's expected value for the coarse step being aggregated; NaN until it has seen a step.
    public private(set) var slowReference = Double.nan

    /// `fast` runs at the tick (its `stepSeconds` is the tick), `slow` at the coarse step; a prior, if any, seeds
    /// the slow path (the central service's profiles are coarse).
    public init(fast: ForecasterConfiguration, slow: ForecasterConfiguration, prior: SeasonalPrior? = nil) {
        self.fast = Forecaster(configuration: fast)
        self.slow = Forecaster(configuration: slow, prior: prior)
        if prior != nil { slowReference = self.slow.forecast().expected }
    }

    /// Folds in one tick's value. When the value opens a new coarse step, the finished step's mean goes to the slow
    /// path first.
    public mutating func update(value: Double, atSeconds seconds: Double) {
        guard value.isFinite, seconds.isFinite else {
            fast.update(value: value, atSeconds: seconds, reference: .nan)  // counted as refused
            return
        }
        let slowStepSeconds = slow.configuration.stepSeconds
        let step = Int(min(max((seconds / slowStepSeconds).rounded(.down), -0x1p52), 0x1p52))
        if let current = aggregatingStep, step != current, aggregateCount > 0 {
            slow.update(value: aggregateSum / Double(aggregateCount), atSeconds: Double(current) * slowStepSeconds)
            slowReference = slow.forecast().expected
            aggregateSum = 0
            aggregateCount = 0
        }
        aggregatingStep = step
        aggregateSum += max(value, 0)
        aggregateCount += 1
        fast.update(value: value, atSeconds: seconds, reference: slowReference)
    }

    /// The forecast for the next tick: the fast path blended with the slow path's expectation for this coarse step.
    public func forecast() -> Forecast { fast.forecast(reference: slowReference) }
}
