import Predict

/// The methods `dpm replay` and the knob scan measure, and the knobs each reads.
public enum ReplayMethod: String, CaseIterable, Sendable {
    case dpm, vpa
    case autopilotMax = "autopilot-max"
    case autopilotP95 = "autopilot-p95"
    case autopilotAvg = "autopilot-avg"
    case autopilotML = "autopilot-ml"
    case seasonalNaive = "seasonal-naive"
    case staticPeak = "static-peak"
}

/// One setting of every method's knob; nil margin and quantile mean each method's own default.
public struct ReplayKnobs: Sendable {
    /// Safety margin fraction on top of the limit (vpa default 0.15, others 0; not used by dpm).
    public var margin: Double?
    /// dpm's demand quantile (its configuration's target), vpa's percentile (0.9), autopilot-p95's (0.95).
    public var quantile: Double?
    /// autopilot-ml: cost of one overrun in units of one step of unit slack.
    public var overrunWeight: Double = 10
    /// Steps learnt from before scoring starts (static-peak's window too).
    public var warmupSteps: Int
    /// dpm's forecaster; `quantile`, when set, replaces its shortfall target.
    public var forecaster: ForecasterConfiguration

    public init(margin: Double? = nil, quantile: Double? = nil, overrunWeight: Double = 10, warmupSteps: Int,
                forecaster: ForecasterConfiguration) {
        self.margin = margin
        self.quantile = quantile
        self.overrunWeight = overrunWeight
        self.warmupSteps = warmupSteps
        self.forecaster = forecaster
    }

    /// dpm's configuration with the quantile knob applied.
    public var dpmConfiguration: ForecasterConfiguration {
        var configuration = forecaster
        if let quantile { configuration.shortfallTarget = 1 - quantile }
        return configuration
    }
}

/// Replays one series with `method` set by `knobs`; with `timed`, also times its updates in a separate pass.
public func replay(_ series: UsageSeries, method: ReplayMethod, knobs: ReplayKnobs, timed: Bool) -> ReplayScore {
    func run<M: LimitMethod>(_ limitMethod: M) -> ReplayScore {
        var score = replay(series, method: limitMethod, warmupSteps: knobs.warmupSteps)
        if timed {
            let timing = timeUpdates(series, method: limitMethod)
            score.timedUpdates = timing.updates
            score.timedNanoseconds = timing.nanoseconds
        }
        return score
    }
    switch method {
    case .dpm: return run(ForecasterMethod(configuration: knobs.dpmConfiguration))
    case .vpa: return run(VPARecommender(percentile: knobs.quantile ?? 0.9, margin: knobs.margin ?? 0.15))
    case .autopilotMax: return run(AutopilotRecommender(statistic: .max, margin: knobs.margin ?? 0))
    case .autopilotP95:
        return run(AutopilotRecommender(
            statistic: .percentile, percentile: knobs.quantile ?? 0.95, margin: knobs.margin ?? 0))
    case .autopilotAvg: return run(AutopilotRecommender(statistic: .average, margin: knobs.margin ?? 0))
    case .autopilotML: return run(AutopilotMLRecommender(overrunWeight: knobs.overrunWeight))
    case .seasonalNaive: return run(SeasonalNaive(periodSteps: 288, margin: knobs.margin ?? 0))
    case .staticPeak: return run(StaticPeak(warmupSteps: knobs.warmupSteps, margin: knobs.margin ?? 0))
    }
}
