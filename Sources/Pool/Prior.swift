/// A forecast prior that the central service learns from many hosts and hands to an edge agent.
///
/// It describes one tenant's (or one workload class's) resource use at a coarse step: a level, a trend and a
/// seasonal profile. Predict blends it with what the edge sees locally.
public struct SeasonalPrior: Sendable, Hashable, Codable {
    public var resource: ResourceKind
    /// Length of one step of the profile, in seconds (300 for 5-minute data).
    public var stepSeconds: Double
    /// Mean level, in the resource's unit.
    public var level: Double
    /// Change of the level per step.
    public var trend: Double
    /// Additive seasonal offsets, one per step of the period; empty when no seasonality was found.
    public var seasonalProfile: [Double]
    /// Seconds since the Unix epoch at which `seasonalProfile[0]` applies (the phase of the period).
    public var profileEpochSeconds: Double
    /// The one-step forecast error to expect, in the resource's unit: central serves the standard deviation of the
    /// residual's change between consecutive steps (the error of a forecaster that follows the level), which is
    /// where Predict starts its headroom.
    public var residualStandardDeviation: Double
    /// How many steps of history the prior was learnt from (0 for a pure class prior).
    public var historySteps: Int
    /// How well an edge's own local models forecast the members of a class one step ahead, learnt by replaying
    /// them over the members' history; nil when unknown (a tenant's own prior, a payload from an older service).
    public var localModelErrors: LocalModelErrors?
    /// The fast model's level rate (`ForecasterConfiguration.levelRate`) that forecast this tenant best one step
    /// ahead when central replayed an edge's forecaster over its history; Predict uses it in place of the
    /// configuration's for this tenant. Only in a tenant's own prior: a class's rate made new tenants' forecasts
    /// worse. Nil when unknown; a value outside (0, 1] is never used (`usableFastLevelRate`).
    public var fastLevelRate: Double?

    public init(
        resource: ResourceKind,
        stepSeconds: Double,
        level: Double,
        trend: Double = 0,
        seasonalProfile: [Double] = [],
        profileEpochSeconds: Double = 0,
        residualStandardDeviation: Double,
        historySteps: Int,
        localModelErrors: LocalModelErrors? = nil,
        fastLevelRate: Double? = nil
    ) {
        self.resource = resource
        self.stepSeconds = stepSeconds
        self.level = level
        self.trend = trend
        self.seasonalProfile = seasonalProfile
        self.profileEpochSeconds = profileEpochSeconds
        self.residualStandardDeviation = residualStandardDeviation
        self.historySteps = historySteps
        self.localModelErrors = localModelErrors
        self.fastLevelRate = fastLevelRate
    }

    /// `fastLevelRate` when it is within (0, 1], the only rates a forecaster may follow (0 would freeze the level,
    /// a NaN would stay in its state); nil otherwise.
    public var usableFastLevelRate: Double? {
        fastLevelRate.flatMap { $0 > 0 && $0 <= 1 ? $0 : nil }
    }

    /// Whether the prior was learnt from this tenant's own history, not only from its class's (`historySteps` > 0).
    public var isTenantsOwn: Bool { historySteps > 0 }

    /// The prior's expected value at a moment, `timeSeconds` since the Unix epoch.
    public func expected(atSeconds timeSeconds: Double) -> Double {
        guard !seasonalProfile.isEmpty, stepSeconds > 0 else { return level }
        let step = ((timeSeconds - profileEpochSeconds) / stepSeconds).rounded(.down)
        let count = Double(seasonalProfile.count)
        let index = Int(step - (step / count).rounded(.down) * count)
        return level + seasonalProfile[index]
    }
}

/// Mean squared one-step errors of Predict's two local models (the fast Holt model and the slow level), each in
/// units of the prior's residual variance (`residualStandardDeviation`²): what the tenants of a class showed when
/// central replayed an edge's forecaster over their history. Predict starts a new tenant's ensemble from them, so
/// its first forecasts already lean toward the model that served the class best.
public struct LocalModelErrors: Sendable, Hashable, Codable {
    public var fast: Double
    public var slow: Double

    public init(fast: Double, slow: Double) {
        self.fast = fast
        self.slow = slow
    }

    /// Both finite and non-negative: the only values a forecaster may start from (a NaN would stay in its state).
    public var isUsable: Bool { fast.isFinite && slow.isFinite && fast >= 0 && slow >= 0 }
}
