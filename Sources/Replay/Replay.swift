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
    var cursor = ReplayCursor(series: series, method: method, warmupSteps: warmupSteps)
    while cursor.advance() {}
    return cursor.score
}

/// Replays series of equal length and step side by side with dpm's forecaster, sharing the pooled shortfall target
/// among them at every step by `ShortfallBudget` (each series' target follows its current error scale).
public func replayPooled(_ series: [UsageSeries], configuration: ForecasterConfiguration,
                         warmupSteps: Int) -> [ReplayScore] {
    var cursors = series.map {
        ReplayCursor(series: $0, method: ForecasterMethod(configuration: configuration), warmupSteps: warmupSteps)
    }
    let poolTarget = configuration.shortfallTarget
    var running = true
    while running {
        let meanScale = cursors.reduce(0) { $0 + $1.method.forecaster.errorScale } / Double(max(cursors.count, 1))
        running = false
        for index in cursors.indices {
            let target = ShortfallBudget.target(
                poolTarget: poolTarget, errorScale: cursors[index].method.forecaster.errorScale,
                meanErrorScale: meanScale)
            cursors[index].method.setShortfallTarget(target)
            if cursors[index].advance() { running = true }
        }
    }
    return cursors.map(\.score)
}

/// The state of one series' replay: the method, the scores so far and the forecasts awaiting their step.
struct ReplayCursor<Method: LimitMethod> {
    static var horizon: Int { 12 }
    let series: UsageSeries
    var method: Method
    let warmupSteps: Int
    var score = ReplayScore()
    var index = 0
    var forecasts12 = [Double](repeating: .nan, count: horizon)
    var previousForecast1 = Double.nan

    init(series: UsageSeries, method: Method, warmupSteps: Int) {
        self.series = series
        self.method = method
        self.warmupSteps = warmupSteps
    }

    /// Plays the next step; false when the series is over.
    mutating func advance() -> Bool {
        let values = series.values
        guard index < values.count else { return false }
        let horizon = Self.horizon
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
        index += 1
        return true
    }
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
