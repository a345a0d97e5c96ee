import Pool

/// What the service learnt about one tenant's use of one resource.
public struct TenantModel: Sendable, Hashable {
    public var prior: SeasonalPrior
    /// The mean daily shape, 24 hourly values (UTC) z-normalised; nil with less than a day of history or a flat day.
    public var dailyShape: [Double]?
    /// Standard deviation of the 24 hourly means: turns `dailyShape` back into the resource's unit.
    public var dailyScale: Double
}

/// Classical additive decomposition of an evenly spaced series: linear trend, seasonal profile, residual.
///
/// The period is a week or a day, whichever explains more (see `fit`), or none. Profiles are phased to the Unix epoch (`profileEpochSeconds` 0), so index `floor(t / step) mod period` is the
/// same wall-clock slot on every host.
public enum SeasonalDecomposition {
    public static let secondsPerDay = 86_400
    public static let secondsPerWeek = 604_800
    /// A profile that explains less of the variance than this is dropped (the tenant is treated as aseasonal).
    public static let minimumSeasonalStrength = 0.1
    static let backfittingRounds = 5
    /// Fewer observed steps than this give no model.
    public static let minimumObservedSteps = 6

    /// Fits a model to `values` (NaN where a step has no data); `startSeconds` is a multiple of `stepSeconds`.
    ///
    /// Tries a weekly period (with two weeks of span) and a daily one (with two days) and keeps the one that
    /// explains the most variance after paying for its parameters (adjusted R²), if that reaches
    /// `minimumSeasonalStrength`; otherwise the model is level and trend only.
    public static func fit(values: [Double], startSeconds: Int64, stepSeconds: Int, resource: ResourceKind) -> TenantModel? {
        let observed = values.indices.filter { values[$0].isFinite }
        guard observed.count >= minimumObservedSteps, stepSeconds > 0 else { return nil }
        let firstStep = startSeconds / Int64(stepSeconds)
        let spanSteps = observed[observed.count - 1] - observed[0] + 1
        var best = components(values: values, observed: observed, firstStep: firstStep, stepSeconds: stepSeconds, period: 0)
        for seconds in [secondsPerWeek, secondsPerDay] where seconds % stepSeconds == 0 {
            let period = seconds / stepSeconds
            guard spanSteps >= 2 * period, observed.count > period + 1 else { continue }
            let candidate = components(values: values, observed: observed, firstStep: firstStep, stepSeconds: stepSeconds, period: period)
            if candidate.adjustedStrength >= max(minimumSeasonalStrength, best.adjustedStrength) { best = candidate }
        }
        let prior = SeasonalPrior(
            resource: resource, stepSeconds: Double(stepSeconds), level: best.line.at(Double(values.count - 1)),
            trend: best.line.slope, seasonalProfile: best.season, profileEpochSeconds: 0,
            residualStandardDeviation: best.residualVariance.squareRoot(), historySteps: observed.count
        )
        let (shape, scale) = dailyShape(values: values, observed: observed, firstStep: firstStep, stepSeconds: stepSeconds)
        return TenantModel(prior: prior, dailyShape: shape, dailyScale: scale)
    }

    struct Components {
        var line: Line
        var season: [Double]
        var residualVariance: Double
        /// Adjusted R² of the season over the detrended series (0 without a season).
        var adjustedStrength: Double
    }

    /// Trend and season for one period (0: none) by backfitting: the trend of the deseasonalised data, the season
    /// of the detrended data, a few times over (a trend fitted across whole cycles is biased by the season and
    /// vice versa).
    static func components(values: [Double], observed: [Int], firstStep: Int64, stepSeconds: Int, period: Int) -> Components {
        func phase(_ index: Int) -> Int { Int((firstStep + Int64(index)) % Int64(period)) }
        var line = leastSquaresLine(observed.map { (Double($0), values[$0]) })
        var season = [Double]()
        if period > 0 {
            for _ in 0..<backfittingRounds {
                season = circularMovingAverage(
                    phaseMeans(observed.map { (phase($0), values[$0] - line.at(Double($0))) }, period: period),
                    width: smoothingWidth(stepSeconds: stepSeconds)
                )
                line = leastSquaresLine(observed.map { (Double($0), values[$0] - season[phase($0)]) })
            }
        }
        let detrended = observed.map { values[$0] - line.at(Double($0)) }
        let residuals = period > 0 ? zip(observed, detrended).map { $1 - season[phase($0)] } : detrended
        let count = Double(observed.count), detrendedVariance = variance(detrended), residualVariance = variance(residuals)
        // A smoothed profile has about period / width free parameters.
        let parameters = Double(period) / Double(smoothingWidth(stepSeconds: stepSeconds))
        let adjustedStrength = period > 0 && detrendedVariance > 0
            ? 1 - residualVariance * (count - 1) / (detrendedVariance * (count - parameters - 1)) : 0
        return Components(line: line, season: season, residualVariance: residualVariance, adjustedStrength: adjustedStrength)
    }

    /// Hourly (UTC) means of the series, z-normalised; needs a day's span with every hour observed and some swing.
    static func dailyShape(values: [Double], observed: [Int], firstStep: Int64, stepSeconds: Int) -> ([Double]?, Double) {
        let spanSeconds = (observed[observed.count - 1] - observed[0] + 1) * stepSeconds
        guard spanSeconds >= secondsPerDay else { return (nil, 0) }
        let hourly = phaseMeans(
            observed.map { (Int(((firstStep + Int64($0)) * Int64(stepSeconds) % Int64(secondsPerDay)) / 3600), values[$0]) },
            period: 24, centered: false, fillMissing: .nan
        )
        guard hourly.allSatisfy(\.isFinite) else { return (nil, 0) }
        let mean = hourly.reduce(0, +) / 24
        let scale = variance(hourly).squareRoot()
        guard scale > 1e-9 * max(1, abs(mean)) else { return (nil, 0) }
        return (hourly.map { ($0 - mean) / scale }, scale)
    }

    struct Line {
        var intercept: Double
        var slope: Double
        func at(_ x: Double) -> Double { intercept + slope * x }
    }

    /// Slots per smoothing window: about an hour (odd, so it is centred). Each slot of a 5-minute profile is the
    /// mean of only one sample per cycle; neighbouring slots share most of their signal, not their noise.
    static func smoothingWidth(stepSeconds: Int) -> Int {
        max(1, 3600 / stepSeconds) | 1
    }

    /// Centred moving average over a cyclic profile.
    static func circularMovingAverage(_ profile: [Double], width: Int) -> [Double] {
        guard width > 1, profile.count > width else { return profile }
        let half = width / 2
        return profile.indices.map { index in
            (-half...half).reduce(0) { $0 + profile[(index + $1 + profile.count) % profile.count] } / Double(width)
        }
    }

    static func leastSquaresLine(_ points: [(Double, Double)]) -> Line {
        let count = Double(points.count)
        let meanX = points.reduce(0) { $0 + $1.0 } / count, meanY = points.reduce(0) { $0 + $1.1 } / count
        let sxx = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.0 - meanX) }
        let sxy = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.1 - meanY) }
        let slope = sxx > 0 ? sxy / sxx : 0
        return Line(intercept: meanY - slope * meanX, slope: slope)
    }

    /// Mean of the values in each phase slot; centred to sum zero (a seasonal offset) unless told otherwise.
    static func phaseMeans(_ samples: [(Int, Double)], period: Int, centered: Bool = true, fillMissing: Double = 0) -> [Double] {
        var sums = [Double](repeating: 0, count: period), counts = [Int](repeating: 0, count: period)
        for (slot, value) in samples {
            sums[slot] += value
            counts[slot] += 1
        }
        var means = zip(sums, counts).map { $1 > 0 ? $0 / Double($1) : fillMissing }
        if centered {
            let filled = means.filter(\.isFinite)
            let center = filled.isEmpty ? 0 : filled.reduce(0, +) / Double(filled.count)
            means = means.map { $0 - center }
        }
        return means
    }

    static func variance(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let mean = values.reduce(0, +) / Double(values.count)
        return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
    }
}
