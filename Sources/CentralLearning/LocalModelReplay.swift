import Pool
import Predict

/// Replays an edge's forecaster over a tenant's history, off the request path, to learn how its two local models
/// (the fast Holt model and the slow level) forecast this tenant one step ahead. A class prior carries the members'
/// medians (`ShapeClustering.classPriors`), so a new tenant's ensemble starts leaning toward the model that served
/// its class, which a class's daily shape cannot give it.
enum LocalModelReplay {
    /// The local models' mean smoothed squared errors (Predict's ensemble state, default configuration at this step
    /// with a daily season), after a day of warm-up (half the history when shorter), in units of `unitVariance` (the
    /// prior's residual variance); nil without a positive unit or a scored step.
    static func errors(values: [Double], startSeconds: Int64, stepSeconds: Int, unitVariance: Double) -> LocalModelErrors? {
        guard unitVariance > 0, unitVariance.isFinite, stepSeconds > 0 else { return nil }
        let stepsPerDay = SeasonalDecomposition.secondsPerDay / stepSeconds
        let daily = SeasonalDecomposition.secondsPerDay % stepSeconds == 0 && stepsPerDay > 1
        let configuration = ForecasterConfiguration(stepSeconds: Double(stepSeconds), seasonalPeriods: daily ? [stepsPerDay] : [])
        guard configuration.problems.isEmpty else { return nil }
        var forecaster = Forecaster(configuration: configuration)
        let warmupSteps = min(daily ? stepsPerDay : 0, values.count / 2)
        var (fast, slow, scored) = (0.0, 0.0, 0)
        for (index, value) in values.enumerated() {
            forecaster.update(value: value, atSeconds: Double(startSeconds) + Double(index) * Double(stepSeconds))
            guard index >= warmupSteps, value.isFinite, forecaster.updateCount > 1 else { continue }
            fast += forecaster.fastSquaredError
            slow += forecaster.slowSquaredError
            scored += 1
        }
        guard scored > 0 else { return nil }
        let scale = 1 / (Double(scored) * unitVariance)
        return LocalModelErrors(fast: fast * scale, slow: slow * scale)
    }
}
