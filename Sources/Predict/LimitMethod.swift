import Pool

/// Anything that sets a resource limit one step ahead from the usage seen so far: dpm's forecaster and the
/// baselines it is measured against. `dpm replay` asks for `limit()` before it reveals each step's usage.
public protocol LimitMethod: Sendable {
    /// Folds in the usage measured at `atSeconds`; non-finite values are ignored.
    mutating func observe(value: Double, atSeconds seconds: Double)
    /// The limit for the next step.
    func limit() -> Double
    /// The method's point forecast `steps` steps after the last observed value (for the MASE figures).
    func expected(stepsAhead steps: Int) -> Double
}

/// dpm's own method: a `Forecaster`, its limit the demand at the configured quantile.
public struct ForecasterMethod: LimitMethod {
    public private(set) var forecaster: Forecaster

    public init(configuration: ForecasterConfiguration, prior: SeasonalPrior? = nil) {
        forecaster = Forecaster(configuration: configuration, prior: prior)
    }

    public mutating func observe(value: Double, atSeconds seconds: Double) {
        forecaster.update(value: value, atSeconds: seconds)
    }

    public func limit() -> Double { forecaster.forecast().atQuantile }

    /// See `Forecaster.setShortfallTarget`.
    public mutating func setShortfallTarget(_ target: Double) { forecaster.setShortfallTarget(target) }

    public func expected(stepsAhead steps: Int) -> Double { forecaster.expected(stepsAhead: steps) }
}
