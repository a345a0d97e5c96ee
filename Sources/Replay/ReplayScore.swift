/// The figures of one replay, for one series or pooled over many: how much of the limit went unused, how often and
/// by how much usage exceeded it, and how good the point forecasts were.
///
/// All fields are sums, so pooling is adding (`merge`), and the ratios are computed from the sums at the end.
public struct ReplayScore: Sendable, Hashable, Codable {
    /// Steps scored (after the warm-up, with a finite usage).
    public var steps = 0
    /// Steps whose usage was missing or not finite (after the warm-up).
    public var missingSteps = 0
    public var shortfallSteps = 0
    public var limitSum = 0.0
    public var usageSum = 0.0
    /// Σ max(L − u, 0).
    public var slackSum = 0.0
    /// Σ max(u − L, 0).
    public var shortfallSum = 0.0
    /// Σ |u_t − f_{t|t−h}| and Σ |u_t − u_{t−h}| for h = 1 and h = 12.
    public var forecastError1 = 0.0
    public var naiveError1 = 0.0
    public var forecastError12 = 0.0
    public var naiveError12 = 0.0
    /// Method updates timed, and their total time.
    public var timedUpdates = 0
    public var timedNanoseconds = 0.0

    public init() {}

    /// Scores one step: the limit set before the usage was revealed, and the usage.
    public mutating func record(limit: Double, usage: Double) {
        steps += 1
        limitSum += limit
        usageSum += usage
        slackSum += max(limit - usage, 0)
        shortfallSum += max(usage - limit, 0)
        if usage > limit { shortfallSteps += 1 }
    }

    public mutating func merge(_ other: ReplayScore) {
        steps += other.steps
        missingSteps += other.missingSteps
        shortfallSteps += other.shortfallSteps
        limitSum += other.limitSum
        usageSum += other.usageSum
        slackSum += other.slackSum
        shortfallSum += other.shortfallSum
        forecastError1 += other.forecastError1
        naiveError1 += other.naiveError1
        forecastError12 += other.forecastError12
        naiveError12 += other.naiveError12
        timedUpdates += other.timedUpdates
        timedNanoseconds += other.timedNanoseconds
    }

    /// Σ max(L − u, 0) / Σ L: the share of the limit left unused.
    public var slack: Double { limitSum > 0 ? slackSum / limitSum : 0 }
    /// Share of scored steps whose usage exceeded the limit.
    public var shortfallRate: Double { steps > 0 ? Double(shortfallSteps) / Double(steps) : 0 }
    /// Σ max(u − L, 0) / Σ u: the share of demand above the limit.
    public var shortfallVolume: Double { usageSum > 0 ? shortfallSum / usageSum : 0 }
    /// Mean absolute one-step error over that of the naive forecast (the previous value) on the same steps.
    public var mase1: Double { naiveError1 > 0 ? forecastError1 / naiveError1 : 0 }
    /// The same at a 12-step horizon, against the value 12 steps earlier.
    public var mase12: Double { naiveError12 > 0 ? forecastError12 / naiveError12 : 0 }
    /// Mean time of one method update (observe, then limit), in nanoseconds.
    public var nanosecondsPerUpdate: Double { timedUpdates > 0 ? timedNanoseconds / Double(timedUpdates) : 0 }
}
