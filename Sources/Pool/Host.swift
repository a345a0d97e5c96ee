/// One logical CPU of the host, with where it sits in the topology.
public struct Core: Sendable, Hashable, Codable {
    /// The kernel's CPU number (`/sys/devices/system/cpu/cpuN`).
    public var id: Int
    /// NUMA node the CPU belongs to.
    public var numaNode: Int
    /// Physical core this CPU is a hardware thread of; SMT siblings share it.
    public var physicalCoreID: Int

    public init(id: Int, numaNode: Int = 0, physicalCoreID: Int? = nil) {
        self.id = id
        self.numaNode = numaNode
        self.physicalCoreID = physicalCoreID ?? id
    }
}

/// A network link whose egress dpm shapes.
public struct Link: Sendable, Hashable, Codable {
    public var name: String
    public var bandwidthBitsPerSecond: Double

    public init(name: String, bandwidthBitsPerSecond: Double) {
        self.name = name
        self.bandwidthBitsPerSecond = bandwidthBitsPerSecond
    }
}

/// What the host offers to tenants, and what it keeps for itself.
public struct HostCapacity: Sendable, Hashable, Codable {
    /// Every online CPU.
    public var cores: [Core]
    /// Memory per NUMA node, in bytes, indexed by node number.
    public var memoryBytesPerNode: [Double]
    /// Links whose bandwidth is divided among tenants.
    public var links: [Link]
    /// CPUs kept for the system and the agent: never given to a tenant exclusively.
    public var housekeepingCoreIDs: [Int]
    /// Memory and bandwidth kept back from tenants (the CPU reserve is `housekeepingCoreIDs`).
    public var reservedMemoryBytes: Double
    public var reservedBandwidthBitsPerSecond: Double

    public init(
        cores: [Core],
        memoryBytesPerNode: [Double],
        links: [Link] = [],
        housekeepingCoreIDs: [Int] = [],
        reservedMemoryBytes: Double = 0,
        reservedBandwidthBitsPerSecond: Double = 0
    ) {
        self.cores = cores
        self.memoryBytesPerNode = memoryBytesPerNode
        self.links = links
        self.housekeepingCoreIDs = housekeepingCoreIDs
        self.reservedMemoryBytes = reservedMemoryBytes
        self.reservedBandwidthBitsPerSecond = reservedBandwidthBitsPerSecond
    }

    /// Total memory of all nodes.
    public var memoryBytes: Double { memoryBytesPerNode.reduce(0, +) }

    /// Total bandwidth of all shaped links.
    public var bandwidthBitsPerSecond: Double { links.reduce(0) { $0 + $1.bandwidthBitsPerSecond } }

    /// What tenants may share: all cores, memory and bandwidth less the reserves.
    ///
    /// Housekeeping cores still run shared-pool tenants; they are only kept from exclusive placement.
    public var tenantCapacity: ResourceVector {
        ResourceVector(
            cpuCores: Double(cores.count),
            memoryBytes: max(0, memoryBytes - reservedMemoryBytes),
            networkBitsPerSecond: max(0, bandwidthBitsPerSecond - reservedBandwidthBitsPerSecond)
        )
    }

    /// Checks that the description is usable: at least one core, distinct CPU ids, finite non-negative amounts,
    /// housekeeping cores that exist.
    public func validate() throws(PoolError) {
        if cores.isEmpty { throw .invalid(field: "cores", reason: "the host has no cores") }
        var seen = Set<Int>()
        for core in cores where !seen.insert(core.id).inserted {
            throw .invalid(field: "cores", reason: "CPU \(core.id) is listed twice")
        }
        for (node, bytes) in memoryBytesPerNode.enumerated() where !(bytes.isFinite && bytes >= 0) {
            throw .invalid(field: "memoryBytesPerNode[\(node)]", reason: "\(bytes) is not a finite non-negative size")
        }
        for link in links where !(link.bandwidthBitsPerSecond.isFinite && link.bandwidthBitsPerSecond > 0) {
            throw .invalid(field: "links.\(link.name)", reason: "bandwidth \(link.bandwidthBitsPerSecond) is not a finite positive rate")
        }
        for id in housekeepingCoreIDs where !seen.contains(id) {
            throw .invalid(field: "housekeepingCoreIDs", reason: "CPU \(id) is not a core of this host")
        }
        for (field, value) in [("reservedMemoryBytes", reservedMemoryBytes), ("reservedBandwidthBitsPerSecond", reservedBandwidthBitsPerSecond)]
        where !(value.isFinite && value >= 0) {
            throw .invalid(field: field, reason: "\(value) is not a finite non-negative amount")
        }
    }
}
