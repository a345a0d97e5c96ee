import Pool

/// Why a tenant got what it got on the last tick: what `dpm explain` shows.
public struct TenantExplanation: Sendable, Codable, Hashable {
    public var tenant: String
    public var tenantClass: TenantClass
    public var exclusiveCoreIDs: [Int]
    /// The NUMA nodes its memory comes from (`cpuset.mems`).
    public var memoryNodes: CPUSet
    /// Whole cores the latency sizing asked for (0 for tenants on the shared pool).
    public var coresWanted: Int
    /// Factor a run-queue wait above the SLO put on CPU demand (1 within the SLO).
    public var latencyInflation: Double
    public var resources: [ResourceExplanation]
}

/// One resource of one tenant: the amount, its limits and demand, the constraint that held it, the price of that
/// constraint and the cost terms.
public struct ResourceExplanation: Sendable, Codable, Hashable {
    public var resource: ResourceKind
    /// The LP's share (for CPU: shared-pool cores, beside any exclusive cores).
    public var amount: Double
    public var minimum: Double
    public var maximum: Double
    public var expectedDemand: Double
    public var quantileDemand: Double
    public var previousAmount: Double
    public var boundBy: Binding
    /// Dual value of the pool's capacity row (for memory confined to a NUMA node, plus the node's row): cost saved
    /// per extra unit of the pool (0 when the pool has room).
    public var capacityPrice: Double
    public var costTerms: CostTerms
}

/// The constraint or cost breakpoint an amount sits at.
public enum Binding: String, Sendable, Codable, Hashable {
    /// Held at the tenant's guaranteed minimum.
    case guarantee
    /// Held at the tenant's cap.
    case cap
    /// The demand at the class's quantile is met in full.
    case demand
    /// Expected demand met but not the quantile headroom: the pool is short.
    case expectedDemand = "expected-demand"
    /// Kept at last tick's amount because changing costs more than it gains.
    case stability
    /// Limited by the pool's capacity (the capacity row binds).
    case capacity
    /// Memory limited by the NUMA node the tenant's memory is confined to (the node's row binds).
    case nodeCapacity = "node-capacity"
    /// Stopped where the pool's load reaches the contention threshold.
    case contention
    /// Nothing asked for and nothing guaranteed.
    case noDemand = "no-demand"
    /// Not shaped: the tenant has no link.
    case unshaped
    /// CPU of a tenant that owns exclusive cores: it runs on those cores only, so it gets no shared-pool quota.
    case exclusiveCores = "exclusive-cores"
}

extension AllocationState {
    func explanation(slot: Int) -> TenantExplanation {
        var cores: [Int] = []
        exclusiveCoreIDs(slot: slot, into: &cores)
        let spec = specs[slot]
        let resources = ResourceKind.allCases.map { kind in resourceExplanation(slot: slot, kind: kind) }
        return TenantExplanation(tenant: spec.name, tenantClass: spec.tenantClass, exclusiveCoreIDs: cores, memoryNodes: memoryNodes(slot: slot),
                                 coresWanted: placement.held[slot] > 0 || coresWanted[slot] > 0 ? coresWanted[slot] : 0,
                                 latencyInflation: latencyInflation[slot], resources: resources)
    }

    private func resourceExplanation(slot: Int, kind: ResourceKind) -> ResourceExplanation {
        let cell = slot * 3 + kind.rawValue, scale = unit[kind.rawValue], row = rowOf(slot: slot, kind: kind)
        let a = amount[cell], lo = lowerAmount[cell], hi = upperAmount[cell]
        let e = expected[cell], q = quantile[cell], p = previousUsed[cell]
        var terms = model.terms(at: a / scale, expected: e / scale, quantile: q / scale, previous: p / scale, tenantClass: specs[slot].tenantClass)
        var price = 0.0, binding = Binding.unshaped
        if row >= 0 {
            price = -lp.rowDual(row) / scale
            var load = 0.0
            for other in specs.indices where rowOf(slot: other, kind: kind) == row { load += amount[other * 3 + kind.rawValue] }
            let capacity = poolCapacity(row: row)
            if load > 0 { terms.contention = model.contention(total: load / scale, capacity: capacity / scale) * a / load }
            binding = kind == .cpu && placement.held[slot] > 0 ? .exclusiveCores
                : self.binding(amount: a, lower: lo, upper: hi, expected: e, quantile: q, previous: p,
                               capRaw: specs[slot].cap[kind], row: row, tolerance: 1e-7 * scale)
            if kind == .memory, let node = memoryNode(slot: slot) {
                let nodeDual = lp.rowDual(nodeRowStart + node)
                price -= nodeDual / scale
                if nodeDual != 0, binding == .capacity || binding == .contention { binding = .nodeCapacity }
            }
        }
        return ResourceExplanation(resource: kind, amount: row >= 0 ? a : .infinity, minimum: lo, maximum: hi, expectedDemand: e, quantileDemand: q,
                                   previousAmount: p, boundBy: binding, capacityPrice: price, costTerms: terms)
    }

    private func binding(amount a: Double, lower lo: Double, upper hi: Double, expected e: Double, quantile q: Double,
                         previous p: Double, capRaw: Double, row: Int, tolerance: Double) -> Binding {
        let near = { (x: Double, y: Double) in abs(x - y) <= tolerance }
        if near(a, hi), hi < q, hi < capRaw - tolerance || !capRaw.isFinite { return poolBinding(row: row) }
        if near(a, hi), hi < q { return .cap }
        if near(a, lo), lo > 0, lo >= q - tolerance { return .guarantee }
        if near(a, q) { return q <= tolerance && lo <= tolerance ? .noDemand : .demand }
        if near(a, p), p != q { return .stability }
        if near(a, lo), lo > 0 { return .guarantee }
        if near(a, e), e < q { return .expectedDemand }
        return poolBinding(row: row)
    }

    /// Capacity when the pool is full (its overload column at the top), contention when it stopped at the threshold.
    private func poolBinding(row: Int) -> Binding {
        let overload = overloadColumn(row: row)
        let top = lp.columnBounds(overload).upper
        return lp.columnValue(overload) >= top - 1e-9 ? .capacity : .contention
    }
}
