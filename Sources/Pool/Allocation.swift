/// What one tenant is given.
public struct TenantAllocation: Sendable, Hashable, Codable {
    /// CPUs the tenant owns exclusively (latency-critical tenants); empty means it runs on the shared pool.
    public var exclusiveCoreIDs: [Int]
    /// CPU time on the shared pool, in cores (a CFS quota of `sharedCpuCores` × period).
    public var sharedCpuCores: Double
    /// Relative weight on the shared pool when it is contended (cgroup v2 `cpu.weight` scale, 1–10000).
    public var cpuWeight: Int
    /// Memory the tenant is held to (hard limit).
    public var memoryMaxBytes: Double
    /// Memory above which the kernel reclaims from the tenant first (soft limit).
    public var memoryHighBytes: Double
    /// Memory protected from reclaim.
    public var memoryMinBytes: Double
    /// Egress ceiling on the tenant's link.
    public var bandwidthBitsPerSecond: Double

    public init(
        exclusiveCoreIDs: [Int] = [],
        sharedCpuCores: Double = 0,
        cpuWeight: Int = 100,
        memoryMaxBytes: Double = .infinity,
        memoryHighBytes: Double = .infinity,
        memoryMinBytes: Double = 0,
        bandwidthBitsPerSecond: Double = .infinity
    ) {
        self.exclusiveCoreIDs = exclusiveCoreIDs
        self.sharedCpuCores = sharedCpuCores
        self.cpuWeight = cpuWeight
        self.memoryMaxBytes = memoryMaxBytes
        self.memoryHighBytes = memoryHighBytes
        self.memoryMinBytes = memoryMinBytes
        self.bandwidthBitsPerSecond = bandwidthBitsPerSecond
    }

    /// Total CPU the tenant may use: its exclusive cores plus its shared-pool quota.
    public var cpuCores: Double { Double(exclusiveCoreIDs.count) + sharedCpuCores }
}

/// A whole partition of the host: one allocation per tenant, keyed by tenant name.
public struct Allocation: Sendable, Hashable, Codable {
    public var tenants: [String: TenantAllocation]

    public init(tenants: [String: TenantAllocation] = [:]) {
        self.tenants = tenants
    }

    /// Checks invariant 1 of the architecture: the partition fits the host and honours every guarantee.
    ///
    /// Exclusive cores must exist, be outside the housekeeping set and belong to one tenant only; total CPU, memory
    /// and bandwidth must fit the tenant capacity; every tenant must get at least its guarantee.
    public func validate(host: HostCapacity, specs: [TenantSpec]) throws(PoolError) {
        let coreIDs = Set(host.cores.map(\.id))
        let housekeeping = Set(host.housekeepingCoreIDs)
        var owner: [Int: String] = [:]
        var total = ResourceVector.zero
        for (name, allocation) in tenants.sorted(by: { $0.key < $1.key }) {
            for core in allocation.exclusiveCoreIDs {
                if !coreIDs.contains(core) { throw .invalid(field: "\(name).cores", reason: "CPU \(core) is not a core of this host") }
                if housekeeping.contains(core) { throw .invalid(field: "\(name).cores", reason: "CPU \(core) is a housekeeping core") }
                if let other = owner.updateValue(name, forKey: core) {
                    throw .invalid(field: "\(name).cores", reason: "CPU \(core) is already owned by \(other)")
                }
            }
            total.cpuCores += allocation.cpuCores
            if allocation.memoryMaxBytes.isFinite { total.memoryBytes += allocation.memoryMaxBytes }
            if allocation.bandwidthBitsPerSecond.isFinite { total.networkBitsPerSecond += allocation.bandwidthBitsPerSecond }
        }
        let capacity = host.tenantCapacity
        let tolerance = 1e-9
        if total.cpuCores > capacity.cpuCores * (1 + tolerance) {
            throw .overCapacity(kind: .cpu, allocated: total.cpuCores, capacity: capacity.cpuCores)
        }
        if total.memoryBytes > capacity.memoryBytes * (1 + tolerance) {
            throw .overCapacity(kind: .memory, allocated: total.memoryBytes, capacity: capacity.memoryBytes)
        }
        if !host.links.isEmpty, total.networkBitsPerSecond > capacity.networkBitsPerSecond * (1 + tolerance) {
            throw .overCapacity(kind: .network, allocated: total.networkBitsPerSecond, capacity: capacity.networkBitsPerSecond)
        }
        for spec in specs {
            let given = tenants[spec.name] ?? TenantAllocation()
            let amounts = ResourceVector(cpuCores: given.cpuCores, memoryBytes: given.memoryMaxBytes, networkBitsPerSecond: given.bandwidthBitsPerSecond)
            for kind in ResourceKind.allCases where amounts[kind] < spec.guaranteed[kind] * (1 - tolerance) {
                throw .guaranteeBroken(tenant: spec.name, kind: kind, allocated: amounts[kind], guaranteed: spec.guaranteed[kind])
            }
        }
    }
}
