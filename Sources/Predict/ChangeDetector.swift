#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Two-sided CUSUM on standardised forecast errors: it signals when the errors have leaned one way for long enough
/// that the level must have moved (Page, 1954). O(1), two numbers of state.
public struct ChangeDetector: Sendable, Hashable, Codable {
    /// Accumulated evidence that values sit above the forecast, in error scales.
    public private(set) var upward: Double = 0
    /// Accumulated evidence that values sit below the forecast, in error scales.
    public private(set) var downward: Double = 0

    public init() {}

    /// Adds one standardised error (error ÷ error scale); returns true, and starts afresh, when either sum passes
    /// `threshold`. `drift` is the per-step allowance that ordinary noise never accumulates past.
    public mutating func observe(standardisedError: Double, drift: Double, threshold: Double) -> Bool {
        upward = max(0, upward + standardisedError - drift)
        downward = max(0, downward - standardisedError - drift)
        guard upward > threshold || downward > threshold else { return false }
        upward = 0
        downward = 0
        return true
    }
}

/// The headroom multiplier: an online estimate of the quantile of standardised errors that leaves the requested
/// share of steps short, steered by the shortfalls it actually causes.
///
/// Each step moves the multiplier up by `gain·(1 − target)` after a shortfall and down by `gain·target` otherwise
/// (stochastic approximation of the quantile, as in adaptive conformal inference, Gibbs & Candès 2021). Whatever
/// the error distribution, the long-run shortfall rate equals the target, so every series is calibrated on its own.
public struct HeadroomController: Sendable, Hashable, Codable {
    /// Error scales of headroom above the point forecast.
    public private(set) var multiplier: Double
    /// The bounds keep one freak run of shortfalls (or of calm) from pushing the multiplier anywhere absurd.
    public static let multiplierRange: ClosedRange<Double> = -2...30

    public init(multiplier: Double) { self.multiplier = multiplier }

    /// A starting multiplier for a shortfall target when nothing is known: the quantile of a Laplace error whose
    /// mean absolute value is 1 (the error scale is a mean absolute error).
    public static func initialMultiplier(shortfallTarget: Double) -> Double {
        let target = min(max(shortfallTarget, 1e-6), 0.5)
        return -log(2 * target)
    }

    public mutating func observe(shortfall: Bool, target: Double, gain: Double) {
        let step = shortfall ? gain * (1 - target) : -gain * target
        multiplier = min(max(multiplier + step, Self.multiplierRange.lowerBound), Self.multiplierRange.upperBound)
    }
}

/// Shares one shortfall budget among the tenants of a pool.
///
/// When several tenants draw on one pool and the pool's objective is the share of all tenant-steps short (not each
/// tenant's own rate), giving every tenant the same target wastes headroom: with errors of scale s_i, the headroom
/// is about s_i·k(α_i) with k(α) ≈ −ln(2α), and minimising Σ s_i·k(α_i) at a fixed mean of α_i gives α_i ∝ s_i.
/// A tenant with small errors is then held to a stricter target (it costs little) and a volatile one to a looser
/// one. Use it only for tenants whose class allows pooling; a tenant with its own SLO keeps its own target.
public enum ShortfallBudget {
    /// The target for a tenant with error scale `errorScale`, when the pool's mean error scale is
    /// `meanErrorScale` and the pool's target is `poolTarget`; kept within [poolTarget/20, 0.5].
    public static func target(poolTarget: Double, errorScale: Double, meanErrorScale: Double) -> Double {
        guard meanErrorScale > 0, errorScale.isFinite else { return poolTarget }
        return min(max(poolTarget * errorScale / meanErrorScale, poolTarget / 20), 0.5)
    }
}
