/// How much a tenant matters when resources are short.
///
/// Latency-critical tenants get exclusive cores and headroom for their SLO; burstable tenants get their guarantee
/// and share what is left; best-effort tenants soak up whatever nobody else needs.
public enum TenantClass: String, CaseIterable, Sendable, Codable, Comparable {
    case latencyCritical = "latency-critical"
    case burstable
    case bestEffort = "best-effort"

    /// Lower ranks are served first.
    public var rank: Int {
        switch self {
        case .latencyCritical: 0
        case .burstable: 1
        case .bestEffort: 2
        }
    }

    public static func < (lhs: TenantClass, rhs: TenantClass) -> Bool { lhs.rank < rhs.rank }
}

/// A tenant's service-level objective.
public struct ServiceLevelObjective: Sendable, Hashable, Codable {
    /// The 99th percentile of run-queue wait (wake-up to running) the tenant must keep, in nanoseconds.
    public var runQueueWaitP99Nanoseconds: Double?

    public init(runQueueWaitP99Nanoseconds: Double? = nil) {
        self.runQueueWaitP99Nanoseconds = runQueueWaitP99Nanoseconds
    }
}

/// A tenant as declared by its operator or discovered from its container runtime.
public struct TenantSpec: Sendable, Hashable, Codable {
    /// Unique, stable name (`demo/lc`, a container name, a pod's namespace/name).
    public var name: String
    /// Cgroup path relative to the cgroup root (on a hybrid host the same relative path in every hierarchy).
    public var cgroupPath: String
    public var tenantClass: TenantClass
    /// What the tenant is always given, whatever others need.
    public var guaranteed: ResourceVector
    /// What the tenant is never given more of.
    public var cap: ResourceVector
    public var slo: ServiceLevelObjective
    /// The link the tenant's traffic leaves through, when one is shaped.
    public var linkName: String?
    /// Thread ids pinned one by one (a microVM's vCPU threads); empty for ordinary cgroup tenants.
    public var pinnedThreadIDs: [Int32]

    public init(
        name: String,
        cgroupPath: String,
        tenantClass: TenantClass,
        guaranteed: ResourceVector = .zero,
        cap: ResourceVector = .unlimited,
        slo: ServiceLevelObjective = ServiceLevelObjective(),
        linkName: String? = nil,
        pinnedThreadIDs: [Int32] = []
    ) {
        self.name = name
        self.cgroupPath = cgroupPath
        self.tenantClass = tenantClass
        self.guaranteed = guaranteed
        self.cap = cap
        self.slo = slo
        self.linkName = linkName
        self.pinnedThreadIDs = pinnedThreadIDs
    }

    /// Checks the spec on its own: a name, finite non-negative guarantees, and no guarantee above its cap.
    public func validate() throws(PoolError) {
        if name.isEmpty { throw .invalid(field: "name", reason: "a tenant needs a name") }
        for kind in ResourceKind.allCases {
            let low = guaranteed[kind], high = cap[kind]
            if !(low.isFinite && low >= 0) {
                throw .invalid(field: "\(name).guaranteed.\(kind)", reason: "\(low) is not a finite non-negative amount")
            }
            if high.isNaN || high < 0 {
                throw .invalid(field: "\(name).cap.\(kind)", reason: "\(high) is not a non-negative amount")
            }
            if low > high {
                throw .invalid(field: "\(name).guaranteed.\(kind)", reason: "guarantee \(low) \(kind.unit) exceeds cap \(high)")
            }
        }
        if let p99 = slo.runQueueWaitP99Nanoseconds, !(p99.isFinite && p99 > 0) {
            throw .invalid(field: "\(name).slo.runQueueWaitP99", reason: "\(p99) ns is not a finite positive duration")
        }
    }
}
