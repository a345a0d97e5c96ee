import Pool

/// One slot's CPU forecast held at its recent peak, the demand the solver sees: the highest forecast (by its value
/// at quantile) of the current and the previous half of the shrink hold.
///
/// So a rise reaches the solver on the tick it is forecast and a fall only once it has lasted between half and all of
/// the hold: a tenant whose 1 ms usage flips between 0 and 1 core as the scheduler time-slices it keeps one demand
/// instead of triggering a solve every few ticks, and the solver never shrinks it on a tick that happened to catch
/// it descheduled. A plain value kept per slot in the loop's preallocated storage.
struct PeakHold: Equatable {
    private(set) var current = Forecast.zero
    private(set) var previous = Forecast.zero

    /// The forecast the solver sees: the higher of the two halves' peaks.
    @inline(__always)
    var held: Forecast { previous.atQuantile > current.atQuantile ? previous : current }

    /// Starts a new half of the hold: the older half's peak drops out.
    @inline(__always)
    mutating func rotate() {
        previous = current
        current = .zero
    }

    /// Takes this tick's forecast into the current half's peak.
    @inline(__always)
    mutating func observe(_ forecast: Forecast) {
        if forecast.atQuantile > current.atQuantile { current = forecast }
    }
}
