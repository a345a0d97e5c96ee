/// The baselines `dpm replay` measures dpm against, each written from its public description with the source of
/// every parameter beside it. Units are the series' own (CPU percent in the traces here).

/// Kubernetes Vertical Pod Autoscaler, recommender target for CPU.
///
/// Sources: kubernetes/autoscaler `vertical-pod-autoscaler/pkg/recommender/logic/recommender.go`
/// (`targetCPUPercentile = 0.9`, `safetyMarginFraction = 0.15`), `model/aggregations_config.go`
/// (`DefaultCPUHistogramDecayHalfLife = 24h`, `DefaultHistogramBucketSizeGrowth = 0.05`, first bucket 0.01 cores).
/// Differences, because a trace lacks them: every sample weighs 1 (VPA weighs CPU samples by the container's
/// request, which a trace does not record), and there is no 25-millicore floor (the unit is a percentage).
public struct VPARecommender: LimitMethod {
    public private(set) var histogram: DecayingHistogram
    /// The percentile of the decayed histogram (VPA's target: 0.9).
    public let percentile: Double
    /// Safety margin fraction added on top (VPA: 0.15).
    public let margin: Double

    public init(percentile: Double = 0.9, margin: Double = 0.15, maxValue: Double = 1000) {
        self.percentile = percentile
        self.margin = margin
        histogram = DecayingHistogram(
            firstBucketSize: 0.01, growth: 0.05, maxValue: maxValue, halfLifeSeconds: 24 * 3600)
    }

    public mutating func observe(value: Double, atSeconds seconds: Double) {
        histogram.add(value, atSeconds: seconds)
    }

    public func limit() -> Double { histogram.percentile(percentile) * (1 + margin) }

    public func expected(stepsAhead steps: Int) -> Double { histogram.percentile(0.5) }
}

/// Google Autopilot's moving-window recommenders (Rzadca et al., "Autopilot: workload autoscaling at Google",
/// EuroSys 2020, §3.2): a histogram of usage whose samples decay with a half-life of 12 hours (the paper's value
/// for CPU), read as its maximum over a window, a high percentile (p95 by default, as the method's name says; the
/// knob scan varies it) or its weighted average, times (1 + margin).
public struct AutopilotRecommender: LimitMethod {
    public enum Statistic: String, Sendable, Codable, CaseIterable {
        /// S_max: the largest sample in the window.
        case max
        /// S_p: a percentile of the decayed histogram.
        case percentile
        /// S_avg: the decayed average.
        case average
    }

    public let statistic: Statistic
    public let percentile: Double
    public let margin: Double
    public private(set) var histogram: DecayingHistogram
    /// Ring of the last `window` samples for S_max. The paper takes the maximum over a window without giving a
    /// single length; we use one day (288 five-minute steps), the horizon of the daily cycle.
    private var recent: [Double]
    private var recentNext = 0

    public init(statistic: Statistic, percentile: Double = 0.95, margin: Double = 0, windowSteps: Int = 288,
                maxValue: Double = 1000) {
        self.statistic = statistic
        self.percentile = percentile
        self.margin = margin
        // Same exponential bucketing as VPA (which took it from Autopilot); half-life 12 h from the paper.
        histogram = DecayingHistogram(
            firstBucketSize: 0.01, growth: 0.05, maxValue: maxValue, halfLifeSeconds: 12 * 3600)
        recent = [Double](repeating: 0, count: max(windowSteps, 1))
    }

    public mutating func observe(value: Double, atSeconds seconds: Double) {
        guard value.isFinite else { return }
        histogram.add(value, atSeconds: seconds)
        recent[recentNext] = value
        recentNext = (recentNext + 1) % recent.count
    }

    public func limit() -> Double {
        let base: Double
        switch statistic {
        case .max: base = recent.max() ?? 0
        case .percentile: base = histogram.percentile(percentile)
        case .average: base = histogram.average
        }
        return base * (1 + margin)
    }

    public func expected(stepsAhead steps: Int) -> Double { histogram.average }
}

/// Autopilot's ML recommender (EuroSys 2020, §3.3), as the paper describes it: an ensemble of simple models, each
/// a decay rate d_m and a safety margin M_m. Model m keeps, for every candidate limit L (the histogram's bucket
/// boundaries), a decayed cost `c_m(L) ← d_m·c_m(L) + (1 − d_m)·(w_o·o(L) + w_u·u(L))` with overrun
/// o(L) = [usage > L] and underrun u(L) = max(L − usage, 0), and proposes argmin_L c_m(L) · (1 + M_m). Each model is
/// scored by the same overrun/underrun cost of its own past proposals plus w_ΔL times its limit change; the
/// recommender follows the model with the lowest decayed score plus w_Δm if it differs from the current one.
/// The paper does not publish its weights or model grid; ours are below, and the overrun weight is the knob that
/// `dpm replay --overrun-weight` scans (the paper's own trade-off between slack and overruns).
public struct AutopilotMLRecommender: LimitMethod {
    /// Decay rates of the models (per 5-minute step: half-lives from 1 step to about 11.5 hours).
    public static let decayRates: [Double] = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999]
    /// Safety margins of the models.
    public static let margins: [Double] = [0, 0.05, 0.1, 0.2]
    /// Weight of an overrun against one unit of underrun.
    public let overrunWeight: Double
    /// w_u: one unit of slack for one step.
    public let underrunWeight = 1.0
    /// w_ΔL: penalty per unit of limit change (the paper penalises changes to keep limits stable).
    public let limitChangeWeight = 0.1
    /// w_Δm: penalty for switching model.
    public let modelSwitchWeight = 0.1
    /// Decay of the models' scores.
    public let scoreDecay = 0.98

    /// Candidate limits: the ends of the VPA/Autopilot histogram buckets (first 0.01, growing 5% each).
    private let candidateLimits: [Double]
    /// c_m(L), one row of candidate limits per decay rate (the margin does not change the argmin).
    private var limitCosts: [Double]
    private var proposals: [Double]
    private var scores: [Double]
    private var chosen = 0
    private var lastValue = 0.0

    public init(overrunWeight: Double, maxValue: Double = 1000) {
        self.overrunWeight = overrunWeight
        let grid = DecayingHistogram(firstBucketSize: 0.01, growth: 0.05, maxValue: maxValue, halfLifeSeconds: 1)
        candidateLimits = grid.weights.indices.map { grid.bucketStart($0 + 1) }
        limitCosts = [Double](repeating: 0, count: Self.decayRates.count * candidateLimits.count)
        let models = Self.decayRates.count * Self.margins.count
        proposals = [Double](repeating: 0, count: models)
        scores = [Double](repeating: 0, count: models)
    }

    public mutating func observe(value: Double, atSeconds seconds: Double) {
        guard value.isFinite else { return }
        let usage = max(value, 0)
        lastValue = usage
        let candidates = candidateLimits.count
        var model = 0
        for (decayIndex, decay) in Self.decayRates.enumerated() {
            var best = 0
            var bestCost = Double.infinity
            for candidate in 0..<candidates {
                let limit = candidateLimits[candidate]
                let cost = (usage > limit ? overrunWeight : 0) + underrunWeight * max(limit - usage, 0)
                let index = decayIndex * candidates + candidate
                limitCosts[index] = decay * limitCosts[index] + (1 - decay) * cost
                if limitCosts[index] < bestCost {
                    bestCost = limitCosts[index]
                    best = candidate
                }
            }
            let base = candidateLimits[best]
            for margin in Self.margins {
                let previous = proposals[model]
                let cost = (usage > previous ? overrunWeight : 0) + underrunWeight * max(previous - usage, 0)
                let proposal = base * (1 + margin)
                scores[model] = scoreDecay * scores[model]
                    + (1 - scoreDecay) * (cost + limitChangeWeight * abs(proposal - previous))
                proposals[model] = proposal
                model += 1
            }
        }
        var next = chosen
        var nextScore = scores[chosen]
        for candidate in scores.indices where scores[candidate] + modelSwitchWeight < nextScore {
            next = candidate
            nextScore = scores[candidate] + modelSwitchWeight
        }
        chosen = next
    }

    public func limit() -> Double { proposals[chosen] }

    public func expected(stepsAhead steps: Int) -> Double { lastValue }
}

/// Seasonal naive: the value one period ago, times (1 + margin); before a full period, the last value.
public struct SeasonalNaive: LimitMethod {
    public let margin: Double
    private var history: [Double]
    private var next = 0
    private var count = 0

    public init(periodSteps: Int = 288, margin: Double = 0) {
        self.margin = margin
        history = [Double](repeating: 0, count: max(periodSteps, 1))
    }

    public mutating func observe(value: Double, atSeconds seconds: Double) {
        guard value.isFinite else { return }
        history[next] = max(value, 0)
        next = (next + 1) % history.count
        count += 1
    }

    public func limit() -> Double { expected(stepsAhead: 1) * (1 + margin) }

    public func expected(stepsAhead steps: Int) -> Double {
        guard count > 0 else { return 0 }
        let period = history.count
        guard count >= period else { return history[(next - 1 + period) % period] }
        // The value one period before the target step.
        return history[(next + (steps - 1) % period) % period]
    }
}

/// Static peak: the largest value of the warm-up, times (1 + margin), held for ever after.
public struct StaticPeak: LimitMethod {
    public let margin: Double
    public let warmupSteps: Int
    private var peak = 0.0
    private var sum = 0.0
    private var seen = 0

    public init(warmupSteps: Int, margin: Double = 0) {
        self.warmupSteps = warmupSteps
        self.margin = margin
    }

    public mutating func observe(value: Double, atSeconds seconds: Double) {
        guard value.isFinite, seen < warmupSteps else { return }
        peak = max(peak, value)
        sum += max(value, 0)
        seen += 1
    }

    public func limit() -> Double { peak * (1 + margin) }

    public func expected(stepsAhead steps: Int) -> Double { seen > 0 ? sum / Double(seen) : 0 }
}
