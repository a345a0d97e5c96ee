/// A method's trade-off between slack and shortfall, from replays at several settings of its knob, read at a chosen
/// shortfall rate: "slack at equal shortfall", the figure methods are compared by.
public struct ShortfallCurve: Sendable {
    /// (pooled shortfall rate, pooled slack) of each replay, sorted by shortfall rate.
    public private(set) var points: [(rate: Double, slack: Double)] = []

    public init() {}

    public mutating func add(_ score: ReplayScore) { add(rate: score.shortfallRate, slack: score.slack) }

    public mutating func add(rate: Double, slack: Double) {
        let position = points.firstIndex { $0.rate > rate } ?? points.count
        points.insert((rate, slack), at: position)
    }

    /// Slack at `shortfallRate`, linearly interpolated between neighbouring points; where the curve crosses the rate
    /// several times (a knob need not be monotone) the lowest slack counts. Nil when no point lies on each side.
    public func slack(atShortfallRate target: Double) -> Double? {
        var best: Double?
        for (low, high) in zip(points, points.dropFirst()) where low.rate <= target && high.rate >= target {
            let value = high.rate == low.rate
                ? low.slack : low.slack + (high.slack - low.slack) * (target - low.rate) / (high.rate - low.rate)
            best = min(best ?? value, value)
        }
        return best
    }
}
