/// Which NUMA nodes each tenant's memory comes from (cgroup `cpuset.mems`), decided with the allocation.
///
/// Solve puts a tenant's memory on the node of the CPUs it runs on (its exclusive cores, or the shared pool) when
/// those CPUs sit on one node, and on every node otherwise, and keeps what the tenants confined to a node may hold
/// within that node's memory. Enforce writes the node set as the tenant's `cpuset.mems`.
public struct MemoryNodePlacement: Sendable, Hashable, Codable {
    /// The nodes each tenant's memory comes from, by tenant name; a tenant not listed may use every node.
    public var nodesByTenant: [String: CPUSet]

    public init(nodesByTenant: [String: CPUSet] = [:]) {
        self.nodesByTenant = nodesByTenant
    }

    /// Checks that the memory limits of `allocation` fit the nodes they are confined to: for the whole host, for
    /// each node, and for each node set a tenant is given, the tenants confined within it hold at most what its
    /// nodes offer (`HostCapacity.tenantMemoryBytesPerNode`).
    ///
    /// That is Hall's condition for those sets: exact when the sets are nested or disjoint (as Solve's are: one
    /// node, or every node), so some placement of every tenant's pages on its nodes exists; for other families of
    /// sets it is necessary but not sufficient.
    public func validate(allocation: Allocation, host: HostCapacity) throws(PoolError) {
        let capacity = host.tenantMemoryBytesPerNode
        let everyNode = CPUSet(capacity.indices)
        var sets: [CPUSet] = capacity.indices.map { CPUSet([$0]) }
        sets.append(everyNode)
        for (name, nodes) in nodesByTenant.sorted(by: { $0.key < $1.key }) {
            if nodes.isEmpty { throw .invalid(field: "\(name).memoryNodes", reason: "a tenant needs at least one memory node") }
            if let node = nodes.members.first(where: { $0 >= capacity.count }) {
                throw .invalid(field: "\(name).memoryNodes", reason: "node \(node) is not a node of this host (it has \(capacity.count))")
            }
            if !sets.contains(nodes) { sets.append(nodes) }
        }
        for set in sets {
            var held = 0.0
            for (name, given) in allocation.tenants where given.memoryMaxBytes.isFinite {
                let nodes = nodesByTenant[name] ?? everyNode
                if nodes.subtracting(set).isEmpty { held += given.memoryMaxBytes }
            }
            let offered = set.members.reduce(0) { $0 + capacity[$1] }
            if held > offered * (1 + 1e-9) {
                throw .invalid(field: "memoryNodes \(set)", reason: "tenants confined to these nodes hold \(held) bytes of the \(offered) they offer")
            }
        }
    }
}

extension HostCapacity {
    /// Memory tenants may use on each NUMA node: the node's memory less its share of `reservedMemoryBytes`, which
    /// is split over the nodes in proportion to their size.
    public var tenantMemoryBytesPerNode: [Double] {
        let total = memoryBytes
        return memoryBytesPerNode.map { bytes in max(0, bytes - (total > 0 ? reservedMemoryBytes * bytes / total : 0)) }
    }
}
