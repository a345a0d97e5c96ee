import Pool

/// The allocation's cost function: what a tick's LP minimises, term by term, with its weights.
///
/// Every amount is measured as a fraction of the host's tenant capacity of that resource (cores, bytes, bits/s),
/// so one weight means the same for CPU, memory and bandwidth. For tenant t and resource r with amount a, expected
/// demand E, demand at the class's quantile Q (E ≤ Q) and previous amount P, the cost is
///
///     cost_t,r(a) = need(class)     · max(0, E − a)                  shortfall of expected demand
///                 + headroom(class) · max(0, Q − max(a, E))          shortfall of the forecast-error headroom
///                 − utilisation     · max(0, a − Q)                  leftover capacity where it may be used
///                 + stability       · |a − P|                        a cost per change: allocations do not thrash
///
/// and, per resource, `contention · max(0, Σ_t a − threshold · capacity)`: load beyond the threshold of a shared
/// pool, memory pressure or a saturated link costs every tenant. Class priority is the ordering of the weights:
/// latency-critical ≫ burstable ≫ best-effort, each tenth of the one before, so a best-effort tenant never keeps a
/// unit a latency-critical one needs. Because need > headroom > contention > utilisation the function is convex:
/// the LP fills the pieces in order and never pays contention to hand out leftovers.
///
/// Latency: a latency-critical tenant's CPU demand is its forecast divided by `latencyTargetUtilisation` (queueing
/// delay grows like ρ/(1−ρ); below the target it stays within the SLO) and, when its measured run-queue wait p99
/// exceeds its SLO, multiplied by `1 + latencyGain · (measured/SLO − 1)`, at most `maximumLatencyInflation`.
public struct CostModel: Sendable, Hashable, Codable {
    /// Cost per unit of expected demand left unserved, by class.
    public var needWeight: ClassWeights
    /// Cost per unit of the quantile headroom left unserved, by class.
    public var headroomWeight: ClassWeights
    /// Benefit per unit given beyond the quantile demand (positive: leftovers are worth having).
    public var utilisationWeight: Double
    /// Cost per unit of change from the previous tick's amount.
    public var stabilityWeight: Double
    /// Cost per unit of total load above `contentionThreshold` of a resource's capacity.
    public var contentionWeight: Double
    /// Fraction of a pool's capacity above which contention is charged.
    public var contentionThreshold: Double
    /// Utilisation a latency-critical tenant's CPU is sized for.
    public var latencyTargetUtilisation: Double
    /// How strongly a run-queue wait above the SLO raises CPU demand.
    public var latencyGain: Double
    public var maximumLatencyInflation: Double

    public init(
        needWeight: ClassWeights = ClassWeights(latencyCritical: 1000, burstable: 100, bestEffort: 10),
        headroomWeight: ClassWeights = ClassWeights(latencyCritical: 300, burstable: 30, bestEffort: 3),
        utilisationWeight: Double = 0.5,
        stabilityWeight: Double = 1,
        contentionWeight: Double = 1.5,
        contentionThreshold: Double = 0.85,
        latencyTargetUtilisation: Double = 0.7,
        latencyGain: Double = 1,
        maximumLatencyInflation: Double = 2
    ) {
        self.needWeight = needWeight
        self.headroomWeight = headroomWeight
        self.utilisationWeight = utilisationWeight
        self.stabilityWeight = stabilityWeight
        self.contentionWeight = contentionWeight
        self.contentionThreshold = contentionThreshold
        self.latencyTargetUtilisation = latencyTargetUtilisation
        self.latencyGain = latencyGain
        self.maximumLatencyInflation = maximumLatencyInflation
    }

    /// Checks the ordering that keeps the cost convex and the classes in priority order.
    public func validate() throws(SolveError) {
        for tenantClass in TenantClass.allCases {
            let need = needWeight[tenantClass], headroom = headroomWeight[tenantClass]
            if !(need > headroom && headroom > contentionWeight + stabilityWeight && contentionWeight > utilisationWeight && utilisationWeight >= 0) {
                throw .invalidInput(field: "costModel", reason: "weights must satisfy need > headroom > contention + stability > contention > utilisation ≥ 0 (\(tenantClass))")
            }
        }
        if !(contentionThreshold > 0 && contentionThreshold <= 1) { throw .invalidInput(field: "costModel.contentionThreshold", reason: "\(contentionThreshold) is not in (0, 1]") }
        if !(latencyTargetUtilisation > 0 && latencyTargetUtilisation <= 1) { throw .invalidInput(field: "costModel.latencyTargetUtilisation", reason: "\(latencyTargetUtilisation) is not in (0, 1]") }
        if !(maximumLatencyInflation >= 1) { throw .invalidInput(field: "costModel.maximumLatencyInflation", reason: "\(maximumLatencyInflation) is below 1") }
    }

    /// The factor by which a measured run-queue wait above the SLO raises CPU demand (1 when within the SLO).
    public func latencyInflation(measuredWaitNanoseconds: Double?, sloNanoseconds: Double?) -> Double {
        guard let measured = measuredWaitNanoseconds, let slo = sloNanoseconds, slo > 0, measured > slo else { return 1 }
        return min(maximumLatencyInflation, 1 + latencyGain * (measured / slo - 1))
    }

    /// The slope of `cost_t,r` just above amount `a` (all in capacity fractions): the LP's cost of each piece.
    public func slope(at a: Double, expected: Double, quantile: Double, previous: Double, tenantClass: TenantClass) -> Double {
        slopes(for: tenantClass).at(a, expected: expected, quantile: quantile, previous: previous)
    }

    /// The weights of one class's slopes, looked up once for the many pieces a tick prices.
    public func slopes(for tenantClass: TenantClass) -> Slopes {
        Slopes(need: needWeight[tenantClass], headroom: headroomWeight[tenantClass], utilisation: utilisationWeight, stability: stabilityWeight)
    }

    /// `slope(at:…)` for one class, with its weights at hand.
    public struct Slopes: Sendable, Hashable {
        public var need: Double
        public var headroom: Double
        public var utilisation: Double
        public var stability: Double

        @inline(__always)
        public func at(_ a: Double, expected: Double, quantile: Double, previous: Double) -> Double {
            (a < expected ? -need : (a < quantile ? -headroom : -utilisation)) + (a < previous ? -stability : stability)
        }
    }

    /// The terms of `cost_t,r(a)` (capacity fractions), for the explanation and for comparing allocations.
    public func terms(at a: Double, expected: Double, quantile: Double, previous: Double, tenantClass: TenantClass) -> CostTerms {
        CostTerms(
            shortfall: needWeight[tenantClass] * max(0, expected - a),
            headroom: headroomWeight[tenantClass] * max(0, quantile - max(a, expected)),
            utilisation: -utilisationWeight * max(0, a - quantile),
            stability: stabilityWeight * abs(a - previous),
            contention: 0
        )
    }

    /// The contention term of one resource whose tenants hold `total` of a pool of `capacity` (fractions).
    public func contention(total: Double, capacity: Double) -> Double {
        contentionWeight * max(0, total - contentionThreshold * capacity)
    }
}

/// One weight per tenant class.
public struct ClassWeights: Sendable, Hashable, Codable {
    public var latencyCritical: Double
    public var burstable: Double
    public var bestEffort: Double

    public init(latencyCritical: Double, burstable: Double, bestEffort: Double) {
        self.latencyCritical = latencyCritical
        self.burstable = burstable
        self.bestEffort = bestEffort
    }

    public subscript(tenantClass: TenantClass) -> Double {
        switch tenantClass {
        case .latencyCritical: latencyCritical
        case .burstable: burstable
        case .bestEffort: bestEffort
        }
    }
}

/// The cost of one tenant's amount of one resource, by term (capacity fractions × weights).
public struct CostTerms: Sendable, Hashable, Codable {
    public var shortfall: Double
    public var headroom: Double
    public var utilisation: Double
    public var stability: Double
    /// This tenant's share of its pool's contention cost (by its share of the pool's load).
    public var contention: Double

    public init(shortfall: Double = 0, headroom: Double = 0, utilisation: Double = 0, stability: Double = 0, contention: Double = 0) {
        self.shortfall = shortfall
        self.headroom = headroom
        self.utilisation = utilisation
        self.stability = stability
        self.contention = contention
    }

    public var total: Double { shortfall + headroom + utilisation + stability + contention }
}
