import Pool
import Predict

/// Replays an edge's forecaster over a tenant's history, off the request path, to learn how its two local models
/// (the fast Holt model and the slow level) forecast this tenant one step ahead. A class prior carries the members'
/// medians (`ShapeClustering.classPriors`), so a new tenant's ensemble starts leaning toward the model that served
/// its class, which a class's daily shape cannot give it; a tenant's own prior carries the fast model's level rate
/// that served this tenant best (`fastLevelRate`).
enum LocalModelReplay {
    /// The level rates `fastLevelRate` chooses from: 0.8-1.0, around the default 0.9. On the Azure traces a grid
    /// reaching down to 0.5 left the strongly seasonal tenants' warm slack at 1% shortfall at 1.017 of edge-only's
    /// and their first week's slack at 5% at 0.983 (0.8-1.0: 1.014 and 0.979; `Benchmarks/central/RESULTS.md`,
    /// session 7).
    static let fastLevelRates = [0.8, 0.85, 0.9, 0.95, 1.0]

    /// The local models' mean smoothed squared errors (Predict's ensemble state, default configuration at this step
    /// with a daily season), after a day of warm-up (half the history when shorter), in units of `unitVariance` (the
    /// prior's residual variance); nil without a positive unit or a scored step.
    static func errors(values: [Double], startSeconds: Int64, stepSeconds: Int, unitVariance: Double) -> LocalModelErrors? {
        guard unitVariance > 0, unitVariance.isFinite else { return nil }
        var (fast, slow, scored) = (0.0, 0.0, 0)
        replay(values: values, startSeconds: startSeconds, stepSeconds: stepSeconds) { forecaster, _, _ in
            fast += forecaster.fastSquaredError
            slow += forecaster.slowSquaredError
            scored += 1
        }
        guard scored > 0 else { return nil }
        let scale = 1 / (Double(scored) * unitVariance)
        return LocalModelErrors(fast: fast * scale, slow: slow * scale)
    }

    /// The rate of `fastLevelRates` whose forecaster (edge-only, otherwise the default configuration) has the
    /// smallest mean absolute one-step error over the history after the warm-up (the numerator of MASE-1); nil
    /// without a scored step. A tie keeps the smaller rate.
    static func fastLevelRate(values: [Double], startSeconds: Int64, stepSeconds: Int) -> Double? {
        var best: (rate: Double, error: Double)?
        for rate in fastLevelRates {
            var (error, scored) = (0.0, 0)
            replay(values: values, startSeconds: startSeconds, stepSeconds: stepSeconds, levelRate: rate) { _, forecast, value in
                error += abs(value - forecast)
                scored += 1
            }
            guard scored > 0 else { return nil }
            if best.map({ error < $0.error }) ?? true { best = (rate, error) }
        }
        return best?.rate
    }

    /// Feeds `values` to a forecaster with the default configuration at this step (a daily season when a day is a
    /// whole number of steps; `levelRate` when given) and calls `score` with the forecaster after each finite value,
    /// the one-step forecast it had made for that value and the value, once past a day of warm-up (half the history
    /// when shorter) and the first value.
    private static func replay(
        values: [Double], startSeconds: Int64, stepSeconds: Int, levelRate: Double? = nil,
        score: (Forecaster, Double, Double) -> Void
    ) {
        guard stepSeconds > 0 else { return }
        let stepsPerDay = SeasonalDecomposition.secondsPerDay / stepSeconds
        let daily = SeasonalDecomposition.secondsPerDay % stepSeconds == 0 && stepsPerDay > 1
        var configuration = ForecasterConfiguration(stepSeconds: Double(stepSeconds), seasonalPeriods: daily ? [stepsPerDay] : [])
        if let levelRate { configuration.levelRate = levelRate }
        guard configuration.problems.isEmpty else { return }
        var forecaster = Forecaster(configuration: configuration)
        let warmupSteps = min(daily ? stepsPerDay : 0, values.count / 2)
        for (index, value) in values.enumerated() {
            let forecast = forecaster.forecast().expected
            forecaster.update(value: value, atSeconds: Double(startSeconds) + Double(index) * Double(stepSeconds))
            guard index >= warmupSteps, value.isFinite, forecaster.updateCount > 1 else { continue }
            score(forecaster, forecast, value)
        }
    }
}
