import Pool

/// Everything Enforce controls of one tenant: its cgroup settings, its egress ceiling per link, the threads pinned
/// one by one, and the guarantee that must hold at every instant of an apply.
public struct TenantState: Sendable, Hashable, Codable {
    /// The tenant's unique name (`Pool.TenantSpec.name`).
    public var name: String
    /// Cgroup path relative to the cgroup root (the same in every v1 hierarchy).
    public var cgroupPath: String
    /// Whether the tenant's CPUs are its own: no other tenant may have them in its cpuset.
    public var exclusive: Bool
    public var settings: CgroupSettings
    /// Egress ceiling per link name (HTB `ceil`), in bits per second.
    public var bandwidthBitsPerSecond: [String: Double]
    /// Threads (microVM vCPUs) whose affinity is set one by one to the tenant's CPUs.
    public var pinnedThreadIDs: [Int32]
    /// What the tenant must have at every step (CPU in cores, memory limit, and HTB `rate` on each link).
    public var guaranteed: ResourceVector

    public init(
        name: String,
        cgroupPath: String,
        exclusive: Bool = false,
        settings: CgroupSettings = CgroupSettings(),
        bandwidthBitsPerSecond: [String: Double] = [:],
        pinnedThreadIDs: [Int32] = [],
        guaranteed: ResourceVector = .zero
    ) {
        self.name = name
        self.cgroupPath = cgroupPath
        self.exclusive = exclusive
        self.settings = settings
        self.bandwidthBitsPerSecond = bandwidthBitsPerSecond
        self.pinnedThreadIDs = pinnedThreadIDs
        self.guaranteed = guaranteed
    }

    /// The CPU the tenant claims of the host's capacity, in cores: its CPUs if exclusive, else its quota bounded by
    /// its cpuset; at idle priority no more than its guarantee.
    ///
    /// A tenant at idle priority (`cpu.idle`) runs only on cycles no other tenant wants: what it may use beyond its
    /// guarantee (the idle time of cores others own, what the pool's tenants leave) is taken from nobody, so it is
    /// no claim on capacity. Its guarantee is, and other tenants' quotas leave room for it.
    ///
    /// A tenant held at the kernel's smallest quota (`minimumQuotaCores`) likewise claims only its guarantee: Enforce
    /// writes that floor for a tenant the allocation gives no shared cores, since the kernel refuses less. Counted
    /// in full, the floors of many such tenants push a pool the solver filled past capacity, and no grow has a safe
    /// order (measured: 64 tenants, shares summing to the 2 online CPUs and 61 floors of 0.01, 38 of 41 applies
    /// refused with noSafeOrder).
    public func cpuClaimCores(onlineCount: Int) -> Double {
        Self.cpuClaimCores(settings, exclusive: exclusive, guaranteedCores: guaranteed.cpuCores, onlineCount: onlineCount)
    }

    static func cpuClaimCores(_ settings: CgroupSettings, exclusive: Bool, guaranteedCores: Double, onlineCount: Int) -> Double {
        let cpuCount = Double(settings.cpus?.count ?? onlineCount)
        if exclusive { return cpuCount }
        let usable = min(settings.cpuQuotaCores ?? .infinity, cpuCount)
        let atFloor = (settings.cpuQuotaCores ?? .infinity) <= minimumQuotaCores * (1 + 1e-9)
        return settings.cpuIdle == true || atFloor ? min(guaranteedCores, usable) : usable
    }

    /// The smallest CPU quota the kernel takes: 1 ms per `CgroupBackend.cpuPeriodMicroseconds` (0.1 core at 10 ms).
    public static let minimumQuotaCores = Double(CgroupBackend.quotaMicroseconds(0)) / Double(CgroupBackend.cpuPeriodMicroseconds)
}

/// What the host offers, as the safety check needs it.
public struct PartitionLimits: Sendable, Hashable, Codable {
    public var onlineCPUs: CPUSet
    /// Memory tenants may be limited to in total.
    public var memoryBytes: Double
    /// Capacity of each shaped link, in bits per second.
    public var linkBitsPerSecond: [String: Double]

    public init(onlineCPUs: CPUSet, memoryBytes: Double, linkBitsPerSecond: [String: Double] = [:]) {
        self.onlineCPUs = onlineCPUs
        self.memoryBytes = memoryBytes
        self.linkBitsPerSecond = linkBitsPerSecond
    }

    /// The limits of a `Pool.HostCapacity`: all its cores, its memory less the reserve, each link less nothing.
    public init(host: HostCapacity) {
        self.init(
            onlineCPUs: CPUSet(host.cores.map(\.id)),
            memoryBytes: host.tenantCapacity.memoryBytes,
            linkBitsPerSecond: Dictionary(host.links.map { ($0.name, $0.bandwidthBitsPerSecond) }, uniquingKeysWith: { a, _ in a })
        )
    }
}
