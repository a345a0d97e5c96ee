import Pool

/// What the service learnt about one tenant's use of one resource.
public struct TenantModel: Sendable, Hashable {
    /// The prior served to edges. Its `residualStandardDeviation` is the error an edge's forecaster can expect
    /// one step ahead (`oneStepStandardDeviation`), which is what Predict starts its headroom and ensemble from.
    public var prior: SeasonalPrior
    /// Standard deviation of the residual around the fitted level + trend + season over the whole history: how
    /// much of the series the profile does not explain (the prior's seasonal strength is measured against this).
    public var profileResidualStandardDeviation: Double
    /// The mean daily shape, 24 hourly values (UTC) z-normalised; nil with less than a day of history or a flat day.
    public var dailyShape: [Double]?
    /// Standard deviation of the 24 hourly means: turns `dailyShape` back into the resource's unit.
    public var dailyScale: Double
    /// How Predict's local models forecast this tenant one step ahead (`LocalModelReplay`); its class prior carries
    /// the members' medians. Not served in the tenant's own prior: there it moved weight from the prior's reference
    /// to the local models and cost the seasonal tenants' first-day forecasts (`Benchmarks/central/RESULTS.md`,
    /// session 7).
    public var localModelErrors: LocalModelErrors?
}

/// Classical additive decomposition of an evenly spaced series: linear trend, seasonal profile, residual.
///
/// The period is a week or a day, whichever predicts held-out days better (see `fit`), or none. Profiles are phased to the Unix epoch (`profileEpochSeconds` 0), so index `floor(t / step) mod period` is the
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
    /// Tries a weekly period (with two weeks of span) and a daily one (with two days). If neither season explains
    /// `minimumSeasonalStrength` of the variance after paying for its parameters (adjusted R²), the model is level
    /// and trend only. Otherwise the period with the smaller error on held-out days wins (`heldOutError`): adjusted
    /// R² rewards a 14-day weekly profile for fitting noise (each slot is the mean of 2 samples), which then
    /// forecasts worse than the daily one.
    ///
    /// The prior's `residualStandardDeviation` is the residual's one-step change (`Components.oneStepChange`), not
    /// the residual itself: an edge's forecaster follows the level, so its errors are the part of the residual
    /// that the last value does not already show. Predict starts its headroom at 0.8 times this value; the
    /// profile's residual, which keeps the day-to-day wandering a daily profile cannot fit, made first-day limits
    /// wider than edge-only ones on the Azure traces (`Benchmarks/central/RESULTS.md`, 2026-11-30 08:45).
    public static func fit(values: [Double], startSeconds: Int64, stepSeconds: Int, resource: ResourceKind) -> TenantModel? {
        let observed = values.indices.filter { values[$0].isFinite }
        guard observed.count >= minimumObservedSteps, stepSeconds > 0 else { return nil }
        let firstStep = startSeconds / Int64(stepSeconds)
        let spanSteps = observed[observed.count - 1] - observed[0] + 1
        let periods = [secondsPerWeek, secondsPerDay].filter { $0 % stepSeconds == 0 }.map { $0 / stepSeconds }
            .filter { spanSteps >= 2 * $0 && observed.count > $0 + 1 }
        let seasonal = periods.map { period in
            (period: period, components: components(values: values, observed: observed, firstStep: firstStep, stepSeconds: stepSeconds, period: period))
        }
        var best = components(values: values, observed: observed, firstStep: firstStep, stepSeconds: stepSeconds, period: 0)
        if seasonal.contains(where: { $0.components.adjustedStrength >= minimumSeasonalStrength }) {
            var bestError = Double.infinity
            for candidate in seasonal {
                let error = seasonal.count > 1
                    ? heldOutError(values: values, observed: observed, firstStep: firstStep, stepSeconds: stepSeconds, period: candidate.period)
                    : 0
                if error <= bestError { (best, bestError) = (candidate.components, error) }
            }
        }
        let profileResidual = best.residualVariance.squareRoot()
        let prior = SeasonalPrior(
            resource: resource, stepSeconds: Double(stepSeconds), level: best.line.at(Double(values.count - 1)),
            trend: best.line.slope, seasonalProfile: best.season, profileEpochSeconds: 0,
            residualStandardDeviation: best.oneStepChange ?? profileResidual, historySteps: observed.count,
            fastLevelRate: LocalModelReplay.fastLevelRate(values: values, startSeconds: startSeconds, stepSeconds: stepSeconds)
        )
        let (shape, scale) = dailyShape(values: values, observed: observed, firstStep: firstStep, stepSeconds: stepSeconds)
        let localModelErrors = LocalModelReplay.errors(
            values: values, startSeconds: startSeconds, stepSeconds: stepSeconds,
            unitVariance: prior.residualStandardDeviation * prior.residualStandardDeviation)
        return TenantModel(prior: prior, profileResidualStandardDeviation: profileResidual, dailyShape: shape, dailyScale: scale,
                           localModelErrors: localModelErrors)
    }

    struct Components {
        var line: Line
        var season: [Double]
        var residualVariance: Double
        /// Root mean square of the residual's change between consecutive observed steps: the one-step error of a
        /// forecast that follows the level (the last value, moved by the trend and the profile's seasonal change).
        /// Nil when no two observed steps are consecutive.
        var oneStepChange: Double?
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
        return Components(
            line: line, season: season, residualVariance: residualVariance,
            oneStepChange: rootMeanSquareChange(residuals, at: observed), adjustedStrength: adjustedStrength)
    }

    /// Days held out in turn by `heldOutError`: a week, so every weekday is predicted once.
    static let heldOutDays = 7

    /// Mean squared error of a `period` model predicting each of the last `heldOutDays` days of the span (the
    /// model refitted without that day, the days after it kept) — the error of a profile on a day it has not seen.
    static func heldOutError(values: [Double], observed: [Int], firstStep: Int64, stepSeconds: Int, period: Int) -> Double {
        let stepsPerDay = max(1, secondsPerDay / stepSeconds)
        let end = observed[observed.count - 1] + 1
        var squaredError = 0.0, count = 0
        for day in 1...heldOutDays {
            let heldOut = max(0, end - day * stepsPerDay)..<(end - (day - 1) * stepsPerDay)
            let training = observed.filter { !heldOut.contains($0) }
            guard training.count > period + 1, training.count < observed.count else { continue }
            let model = components(values: values, observed: training, firstStep: firstStep, stepSeconds: stepSeconds, period: period)
            for index in observed where heldOut.contains(index) {
                let phase = Int((firstStep + Int64(index)) % Int64(period))
                let error = values[index] - model.line.at(Double(index)) - model.season[phase]
                squaredError += error * error
                count += 1
            }
        }
        return count > 0 ? squaredError / Double(count) : .infinity
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

    /// Root mean square of `values[k] - values[k - 1]` where `steps[k]` follows `steps[k - 1]` directly; nil when
    /// no two steps are consecutive.
    static func rootMeanSquareChange(_ values: [Double], at steps: [Int]) -> Double? {
        var sum = 0.0, count = 0
        for index in values.indices.dropFirst() where steps[index] == steps[index - 1] + 1 {
            let change = values[index] - values[index - 1]
            sum += change * change
            count += 1
        }
        return count > 0 ? (sum / Double(count)).squareRoot() : nil
    }

    static func variance(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let mean = values.reduce(0, +) / Double(values.count)
        return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
    }
}
