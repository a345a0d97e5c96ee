import Pool

/// An allocation problem as a person writes it (the JSON of `dpm solve --allocation`): a host and its tenants with
/// class, demand, minimum and maximum. Converts into the `Pool` values the solver takes.
///
/// Example:
/// ```json
/// {"host": {"coreCount": 8, "numaNodes": 2, "threadsPerCore": 2, "housekeepingCoreIDs": [0],
///           "memoryBytes": 34359738368, "links": [{"name": "eth0", "bandwidthBitsPerSecond": 1e10}]},
///  "tenants": [{"name": "web", "class": "latency-critical", "link": "eth0",
///               "demand": {"cpuCores": 2.1, "memoryBytes": 4e9, "networkBitsPerSecond": 1e9},
///               "min": {"cpuCores": 1, "memoryBytes": 2e9}, "max": {"cpuCores": 4}}]}
/// ```
public struct AllocationProblem: Sendable, Codable, Hashable {
    public var host: Host
    public var tenants: [Tenant]

    public init(host: Host, tenants: [Tenant]) {
        self.host = host
        self.tenants = tenants
    }

    /// The host: either `cores` listed one by one, or `coreCount` CPUs spread over `numaNodes` nodes with
    /// `threadsPerCore` SMT threads (CPU i and i + coreCount/threadsPerCore are siblings, as Linux numbers them).
    public struct Host: Sendable, Codable, Hashable {
        public var coreCount: Int?
        public var cores: [Core]?
        public var numaNodes: Int?
        public var threadsPerCore: Int?
        public var housekeepingCoreIDs: [Int]?
        /// Memory of the whole host, split evenly over the nodes unless `memoryBytesPerNode` says otherwise.
        public var memoryBytes: Double
        /// Memory of each NUMA node (its sum replaces `memoryBytes`).
        public var memoryBytesPerNode: [Double]?
        public var links: [Link]?
        public var reservedMemoryBytes: Double?
        public var reservedBandwidthBitsPerSecond: Double?

        public init(coreCount: Int? = nil, cores: [Core]? = nil, numaNodes: Int? = nil, threadsPerCore: Int? = nil, housekeepingCoreIDs: [Int]? = nil,
                    memoryBytes: Double, memoryBytesPerNode: [Double]? = nil, links: [Link]? = nil, reservedMemoryBytes: Double? = nil,
                    reservedBandwidthBitsPerSecond: Double? = nil) {
            self.coreCount = coreCount
            self.cores = cores
            self.numaNodes = numaNodes
            self.threadsPerCore = threadsPerCore
            self.housekeepingCoreIDs = housekeepingCoreIDs
            self.memoryBytes = memoryBytes
            self.memoryBytesPerNode = memoryBytesPerNode
            self.links = links
            self.reservedMemoryBytes = reservedMemoryBytes
            self.reservedBandwidthBitsPerSecond = reservedBandwidthBitsPerSecond
        }
    }

    /// An amount per resource; a missing one means 0 for demand and minimum, no limit for maximum.
    public struct Amounts: Sendable, Codable, Hashable {
        public var cpuCores: Double?
        public var memoryBytes: Double?
        public var networkBitsPerSecond: Double?

        public init(cpuCores: Double? = nil, memoryBytes: Double? = nil, networkBitsPerSecond: Double? = nil) {
            self.cpuCores = cpuCores
            self.memoryBytes = memoryBytes
            self.networkBitsPerSecond = networkBitsPerSecond
        }

        func vector(missing: Double) -> ResourceVector {
            ResourceVector(cpuCores: cpuCores ?? missing, memoryBytes: memoryBytes ?? missing, networkBitsPerSecond: networkBitsPerSecond ?? missing)
        }
    }

    public struct Tenant: Sendable, Codable, Hashable {
        public var name: String
        public var `class`: TenantClass
        /// Expected demand.
        public var demand: Amounts
        /// Demand at the class's quantile (defaults to `demand`).
        public var demandQuantile: Amounts?
        public var min: Amounts?
        public var max: Amounts?
        public var link: String?
        public var sloRunQueueWaitP99Microseconds: Double?
        public var measuredRunQueueWaitP99Microseconds: Double?

        public init(name: String, class tenantClass: TenantClass, demand: Amounts, demandQuantile: Amounts? = nil, min: Amounts? = nil, max: Amounts? = nil,
                    link: String? = nil, sloRunQueueWaitP99Microseconds: Double? = nil, measuredRunQueueWaitP99Microseconds: Double? = nil) {
            self.name = name
            self.class = tenantClass
            self.demand = demand
            self.demandQuantile = demandQuantile
            self.min = min
            self.max = max
            self.link = link
            self.sloRunQueueWaitP99Microseconds = sloRunQueueWaitP99Microseconds
            self.measuredRunQueueWaitP99Microseconds = measuredRunQueueWaitP99Microseconds
        }
    }

    // MARK: Conversion to Pool values

    public func hostCapacity() throws(SolveError) -> HostCapacity {
        let nodes = host.numaNodes ?? 1
        if nodes < 1 { throw .invalidInput(field: "host.numaNodes", reason: "\(nodes) is not a positive count") }
        let cores: [Core]
        if let listed = host.cores {
            cores = listed
        } else if let count = host.coreCount {
            let threads = host.threadsPerCore ?? 1
            guard count > 0, threads > 0, count % threads == 0 else {
                throw .invalidInput(field: "host.coreCount", reason: "\(count) CPUs cannot be split into \(threads) threads per core")
            }
            let physical = count / threads, perNode = Swift.max(1, (physical + nodes - 1) / nodes)
            cores = (0..<count).map { id in Core(id: id, numaNode: (id % physical) / perNode, physicalCoreID: id % physical) }
        } else {
            throw .invalidInput(field: "host", reason: "give either cores or coreCount")
        }
        if !(host.memoryBytes.isFinite && host.memoryBytes >= 0) {
            throw .invalidInput(field: "host.memoryBytes", reason: "\(host.memoryBytes) is not a finite non-negative size")
        }
        let nodeCount = (cores.map(\.numaNode).max() ?? 0) + 1
        if let perNode = host.memoryBytesPerNode, perNode.count != nodeCount {
            throw .invalidInput(field: "host.memoryBytesPerNode", reason: "\(perNode.count) sizes for \(nodeCount) NUMA nodes")
        }
        let capacity = HostCapacity(
            cores: cores,
            memoryBytesPerNode: host.memoryBytesPerNode ?? Array(repeating: host.memoryBytes / Double(nodeCount), count: nodeCount),
            links: host.links ?? [],
            housekeepingCoreIDs: host.housekeepingCoreIDs ?? [],
            reservedMemoryBytes: host.reservedMemoryBytes ?? 0,
            reservedBandwidthBitsPerSecond: host.reservedBandwidthBitsPerSecond ?? 0
        )
        do { try capacity.validate() } catch { throw .invalidInput(field: "host", reason: error.description) }
        return capacity
    }

    public func tenantSpecs() throws(SolveError) -> [TenantSpec] {
        var specs: [TenantSpec] = []
        for tenant in tenants {
            let spec = TenantSpec(
                name: tenant.name,
                cgroupPath: tenant.name,
                tenantClass: tenant.class,
                guaranteed: tenant.min?.vector(missing: 0) ?? .zero,
                cap: tenant.max?.vector(missing: .infinity) ?? .unlimited,
                slo: ServiceLevelObjective(runQueueWaitP99Nanoseconds: tenant.sloRunQueueWaitP99Microseconds.map { $0 * 1000 }),
                linkName: tenant.link
            )
            do { try spec.validate() } catch { throw .invalidInput(field: "tenants.\(tenant.name)", reason: error.description) }
            specs.append(spec)
        }
        return specs
    }

    /// Demand forecasts, each scaled by `factor(tenantIndex)` (1 for the problem as written).
    public func demands(scaledBy factor: (Int) -> Double = { _ in 1 }) -> [TenantDemand] {
        tenants.enumerated().map { index, tenant in
            let f = factor(index)
            let expected = tenant.demand.vector(missing: 0), quantile = tenant.demandQuantile?.vector(missing: 0) ?? expected
            func forecast(_ kind: ResourceKind) -> Forecast {
                Forecast(expected: expected[kind] * f, atQuantile: quantile[kind] * f, confidence: 1)
            }
            return TenantDemand(cpuCores: forecast(.cpu), memoryBytes: forecast(.memory), networkBitsPerSecond: forecast(.network),
                                measuredRunQueueWaitP99Nanoseconds: tenant.measuredRunQueueWaitP99Microseconds.map { $0 * 1000 })
        }
    }

    // MARK: Synthetic problems

    /// A seeded random problem with `tenantCount` tenants on a host sized so that demand slightly exceeds it:
    /// one in eight tenants latency-critical, half burstable, the rest best-effort; 2 NUMA nodes, SMT 2, CPU 0 for
    /// housekeeping, one 25 Gb/s link. For tests and benchmarks.
    public static func synthetic(tenantCount: Int, seed: UInt64) -> AllocationProblem {
        var random = SplitMix64(seed: seed)
        func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * random.nextUnit() }
        let gib = 1024.0 * 1024 * 1024
        let coreCount = Swift.max(8, 2 * ((tenantCount + 1) / 2))
        let host = Host(coreCount: coreCount, numaNodes: 2, threadsPerCore: 2, housekeepingCoreIDs: [0],
                        memoryBytes: Double(tenantCount) * 3 * gib, links: [Link(name: "eth0", bandwidthBitsPerSecond: 25e9)])
        let tenants = (0..<tenantCount).map { index -> Tenant in
            let tenantClass: TenantClass = index % 8 == 0 ? .latencyCritical : (index % 2 == 1 ? .burstable : .bestEffort)
            let cpu = tenantClass == .latencyCritical ? uniform(0.5, 2) : uniform(0.2, 1.5)
            let memory = uniform(0.5, 5) * gib, network = uniform(10e6, 800e6)
            let spread = uniform(1.1, 1.4)
            let minimum: Amounts? = switch tenantClass {
            case .latencyCritical: Amounts(cpuCores: 1, memoryBytes: 1 * gib, networkBitsPerSecond: 100e6)
            case .burstable: Amounts(cpuCores: uniform(0.1, 0.4), memoryBytes: 0.5 * gib, networkBitsPerSecond: 10e6)
            case .bestEffort: nil
            }
            return Tenant(
                name: "t" + String(repeating: "0", count: Swift.max(0, 3 - String(index).count)) + String(index),
                class: tenantClass,
                demand: Amounts(cpuCores: cpu, memoryBytes: memory, networkBitsPerSecond: network),
                demandQuantile: Amounts(cpuCores: cpu * spread, memoryBytes: memory * spread, networkBitsPerSecond: network * spread),
                min: minimum,
                max: Amounts(cpuCores: 4, memoryBytes: 8 * gib, networkBitsPerSecond: 2e9),
                link: "eth0",
                sloRunQueueWaitP99Microseconds: tenantClass == .latencyCritical ? 500 : nil
            )
        }
        return AllocationProblem(host: host, tenants: tenants)
    }
}
