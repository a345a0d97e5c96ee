import Predict

/// One usage series to replay: a name (file or column), its values at a fixed step, and when it starts.
public struct UsageSeries: Sendable, Hashable {
    public var name: String
    /// One value per step; NaN marks a missing step.
    public var values: [Double]
    public var stepSeconds: Double
    /// Seconds since the Unix epoch of `values[0]`.
    public var startSeconds: Double

    public init(name: String, values: [Double], stepSeconds: Double, startSeconds: Double = 0) {
        self.name = name
        self.values = values
        self.stepSeconds = stepSeconds
        self.startSeconds = startSeconds
    }
}

/// Feeds a series to a method step by step: before each step is revealed the method sets its limit; steps after
/// the warm-up are scored. The method learns during the warm-up too. Missing (non-finite) values are neither
/// scored nor shown to the method, which sees the gap in the time of the next value.
public func replay<Method: LimitMethod>(_ series: UsageSeries, method: Method, warmupSteps: Int) -> ReplayScore {
    var method = method
    var score = ReplayScore()
    let horizon = 12
    var forecasts12 = [Double](repeating: .nan, count: horizon)
    var previousForecast1 = Double.nan
    let values = series.values
    for index in values.indices {
        let usage = values[index]
        let seconds = series.startSeconds + Double(index) * series.stepSeconds
        let limit = method.limit()
        if index >= warmupSteps {
            if usage.isFinite {
                let usage = max(usage, 0)
                score.record(limit: limit, usage: usage)
                if index >= 1, values[index - 1].isFinite, previousForecast1.isFinite {
                    score.forecastError1 += abs(usage - previousForecast1)
                    score.naiveError1 += abs(usage - max(values[index - 1], 0))
                }
                let forecast12 = forecasts12[index % horizon]
                if index >= horizon, values[index - horizon].isFinite, forecast12.isFinite {
                    score.forecastError12 += abs(usage - forecast12)
                    score.naiveError12 += abs(usage - max(values[index - horizon], 0))
                }
            } else {
                score.missingSteps += 1
            }
        }
        if usage.isFinite {
            method.observe(value: usage, atSeconds: seconds)
            forecasts12[index % horizon] = method.expected(stepsAhead: horizon)
        } else {
            forecasts12[index % horizon] = .nan
        }
        previousForecast1 = method.expected(stepsAhead: 1)
    }
    return score
}

/// Runs `observe` then `limit` over every finite value of the series on a fresh copy of `method`, and returns how
/// many updates ran and the `Duration` they took, measured by `clock`. Kept apart from scoring so the timing holds
/// nothing but the method's own work.
public func timeUpdates<Method: LimitMethod>(
    _ series: UsageSeries, method: Method, clock: ContinuousClock = ContinuousClock()
) -> (updates: Int, nanoseconds: Double) {
    var method = method
    var sink = 0.0
    var updates = 0
    let start = clock.now
    for index in series.values.indices {
        let value = series.values[index]
        guard value.isFinite else { continue }
        method.observe(value: value, atSeconds: series.startSeconds + Double(index) * series.stepSeconds)
        sink += method.limit()
        updates += 1
    }
    let elapsed = clock.now - start
    blackHole(sink)
    let (seconds, attoseconds) = elapsed.components
    return (updates, Double(seconds) * 1e9 + Double(attoseconds) / 1e9)
}

/// Keeps the optimiser from dropping work whose result is otherwise unused.
@inline(never)
func blackHole(_ value: Double) {
    if value == -.greatestFiniteMagnitude { print(value) }
}
