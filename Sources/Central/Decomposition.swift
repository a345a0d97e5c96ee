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
/// The period is a week when at least two weeks of history exist, a day with at least two days, none otherwise.
/// Profiles are phased to the Unix epoch (`profileEpochSeconds` 0), so index `floor(t / step) mod period` is the
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
    public static func fit(values: [Double], startSeconds: Int64, stepSeconds: Int, resource: ResourceKind) -> TenantModel? {
        let observed = values.indices.filter { values[$0].isFinite }
        guard observed.count >= minimumObservedSteps, stepSeconds > 0 else { return nil }
        let firstStep = startSeconds / Int64(stepSeconds)
        let spanSteps = observed[observed.count - 1] - observed[0] + 1
        let stepsPerDay = secondsPerDay / stepSeconds, stepsPerWeek = secondsPerWeek / stepSeconds
        let period = spanSteps >= 2 * stepsPerWeek ? stepsPerWeek : spanSteps >= 2 * stepsPerDay ? stepsPerDay : 0
        func phase(_ index: Int) -> Int { Int((firstStep + Int64(index)) % Int64(max(period, 1))) }

        // Backfitting: trend, then the season of the detrended data, then the trend of the deseasonalised data, a
        // few times over (a trend fitted across whole days is biased by the season and vice versa).
        var line = leastSquaresLine(observed.map { (Double($0), values[$0]) })
        var season = [Double](repeating: 0, count: period)
        if period > 0 {
            for _ in 0..<backfittingRounds {
                season = phaseMeans(observed.map { (phase($0), values[$0] - line.at(Double($0))) }, period: period)
                line = leastSquaresLine(observed.map { (Double($0), values[$0] - season[phase($0)]) })
            }
        }
        let detrended = observed.map { values[$0] - line.at(Double($0)) }
        var residuals = zip(observed, detrended).map { index, value in value - (period > 0 ? season[phase(index)] : 0) }
        // Keep the profile only if it explains enough variance after paying for its `period` parameters (adjusted
        // R²): with few cycles, phase means of pure noise would otherwise look like a season.
        let count = Double(observed.count), detrendedVariance = variance(detrended)
        let adjustedStrength = period > 0 && count > Double(period) + 1 && detrendedVariance > 0
            ? 1 - variance(residuals) * (count - 1) / (detrendedVariance * (count - Double(period) - 1)) : 0
        if period > 0, adjustedStrength < minimumSeasonalStrength {
            season = []
            residuals = detrended
        }
        let lastIndex = Double(values.count - 1)
        let prior = SeasonalPrior(
            resource: resource, stepSeconds: Double(stepSeconds), level: line.at(lastIndex), trend: line.slope,
            seasonalProfile: season, profileEpochSeconds: 0,
            residualStandardDeviation: variance(residuals).squareRoot(), historySteps: observed.count
        )
        let (shape, scale) = dailyShape(values: values, observed: observed, firstStep: firstStep, stepSeconds: stepSeconds)
        return TenantModel(prior: prior, dailyShape: shape, dailyScale: scale)
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
