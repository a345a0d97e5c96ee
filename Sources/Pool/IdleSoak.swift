/// Whether best-effort tenants soak up the idle cycles of cores that other tenants own.
///
/// A core a latency-critical tenant owns exclusively sits idle whenever that tenant sleeps (a request/response
/// server waiting for its next request). Under `.ownedCores` a best-effort tenant runs at idle priority (cgroup
/// `cpu.idle = 1`: the scheduler runs it only when nothing else on the core wants to, and a waking task of any other
/// class preempts it at once) and may run on those cores as well as on the shared pool. The owner keeps its core in
/// every sense that matters to its latency; the cycles it leaves are not wasted.
///
/// The soaked cores are not an allocation of capacity: `Allocation.validate` still holds every exclusive core to
/// one owner, and a best-effort tenant's claim on capacity stays its share of the shared pool.
public enum IdleSoakPolicy: String, Sendable, Hashable, Codable, CaseIterable {
    /// Every tenant runs where its allocation puts it, at its class's ordinary priority.
    case off
    /// Best-effort tenants run at idle priority, on the shared pool and on every exclusively owned core.
    case ownedCores = "owned-cores"

    /// Whether a tenant of this class runs at idle priority under this policy.
    public func runsAtIdlePriority(_ tenantClass: TenantClass) -> Bool {
        self == .ownedCores && tenantClass == .bestEffort
    }
}

extension Allocation {
    /// The cores a tenant of `tenantClass` may run on at idle priority besides its own allocation: under
    /// `.ownedCores`, for a best-effort tenant, every core some tenant owns exclusively (sorted); otherwise none.
    public func idleSoakCoreIDs(for tenantClass: TenantClass, policy: IdleSoakPolicy) -> [Int] {
        guard policy.runsAtIdlePriority(tenantClass) else { return [] }
        return tenants.values.flatMap(\.exclusiveCoreIDs).sorted()
    }
}
