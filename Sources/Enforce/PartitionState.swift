import Pool

/// The partition as the planner simulates it, with running totals so each step is checked in O(its CPUs).
///
/// Tenants live in a dense array: a tenant's position (its slot) stays the same from one apply to the next until it
/// is removed, so the `Enforcer` keeps its per-tenant bookkeeping in arrays indexed the same way and updates every
/// state in place.
public struct PartitionState: Sendable {
    public private(set) var tenants: [TenantState] = []
    private(set) var index: [String: Int] = [:]
    let limits: PartitionLimits
    /// How many exclusive and shared tenants have each CPU (by number) in their cpuset. Tenants at idle priority
    /// are not counted: they may share any CPU, exclusive ones included (`Pool.IdleSoakPolicy`).
    private var exclusiveUsers: [Int]
    private var sharedUsers: [Int]
    private var cpuClaimCores = 0.0
    private var memoryBytes = 0.0
    private var linkBitsPerSecond: [String: Double] = [:]

    public init(tenants: [TenantState], limits: PartitionLimits) {
        self.limits = limits
        let cpuCount = (limits.onlineCPUs.members.last ?? -1) + 1
        exclusiveUsers = Array(repeating: 0, count: cpuCount)
        sharedUsers = Array(repeating: 0, count: cpuCount)
        for tenant in tenants { add(tenant) }
    }

    /// The slot of a tenant; `hint` is where it is expected (its position in the request), checked first so a
    /// request in the usual order costs no hashing.
    func slot(named name: String, hint: Int) -> Int? {
        if hint < tenants.count && tenants[hint].name == name { return hint }
        return index[name]
    }

    @discardableResult
    mutating func add(_ tenant: TenantState) -> Int {
        let slot = tenants.count
        index[tenant.name] = slot
        tenants.append(tenant)
        account(slot, sign: 1)
        return slot
    }

    /// The state of one tenant, nil when unknown.
    public func tenant(named name: String) -> TenantState? { index[name].map { tenants[$0] } }

    /// Adds a tenant or replaces what is known of it (its totals follow).
    public mutating func upsert(_ tenant: TenantState) {
        guard let slot = index[tenant.name] else {
            add(tenant)
            return
        }
        replace(at: slot, with: tenant)
    }

    mutating func replace(at slot: Int, with tenant: TenantState) {
        account(slot, sign: -1)
        tenants[slot] = tenant
        account(slot, sign: 1)
    }

    /// Removes a tenant; the last tenant moves into its slot. Returns the slot emptied and the slot the last
    /// tenant came from (equal when the removed tenant was the last), nil when the tenant is unknown.
    mutating func remove(named name: String) -> (slot: Int, movedFrom: Int)? {
        guard let slot = index.removeValue(forKey: name) else { return nil }
        account(slot, sign: -1)
        let last = tenants.count - 1
        tenants.swapAt(slot, last)
        tenants.removeLast()
        if slot != last { index[tenants[slot].name] = slot }
        return (slot, last)
    }

    /// Takes the target's guarantee, cgroup and pinned threads, and `exclusive` (the planner decides when a tenant
    /// becomes an owner).
    mutating func setPolicy(at slot: Int, from target: TenantState, exclusive: Bool) {
        account(slot, sign: -1)
        tenants[slot].exclusive = exclusive
        tenants[slot].guaranteed = target.guaranteed
        if tenants[slot].cgroupPath != target.cgroupPath { tenants[slot].cgroupPath = target.cgroupPath }
        if !target.pinnedThreadIDs.isEmpty && tenants[slot].pinnedThreadIDs != target.pinnedThreadIDs {
            tenants[slot].pinnedThreadIDs = target.pinnedThreadIDs
        }
        account(slot, sign: 1)
    }

    /// Records a change as made, unchecked (bookkeeping after a rollback).
    mutating func force(_ change: PlannedChange, at slot: Int) {
        account(slot, sign: -1)
        switch change.target {
        case let .knob(knob, value): tenants[slot].settings[knob] = value
        case let .bandwidth(link, rate): tenants[slot].bandwidthBitsPerSecond[link] = rate
        case .threadAffinity: break
        }
        account(slot, sign: 1)
    }

    private mutating func account(_ slot: Int, sign: Int) {
        let exclusive = tenants[slot].exclusive
        if !Self.isIdle(tenants[slot].settings, exclusive: exclusive) {
            for cpu in (tenants[slot].settings.cpus ?? limits.onlineCPUs).members { count(cpu: cpu, exclusive: exclusive, sign: sign) }
        }
        cpuClaimCores += Double(sign) * tenants[slot].cpuClaimCores(onlineCount: limits.onlineCPUs.count)
        if let bytes = tenants[slot].settings.memoryMaxBytes, bytes.isFinite { memoryBytes += Double(sign) * bytes }
        for (link, rate) in tenants[slot].bandwidthBitsPerSecond where rate.isFinite {
            linkBitsPerSecond[link, default: 0] += Double(sign) * rate
        }
    }

    private mutating func count(cpu: Int, exclusive: Bool, sign: Int) {
        if cpu >= exclusiveUsers.count {
            // A CPU beyond the online ones (read from a cgroup): counted all the same.
            exclusiveUsers += Array(repeating: 0, count: cpu + 1 - exclusiveUsers.count)
            sharedUsers += Array(repeating: 0, count: cpu + 1 - sharedUsers.count)
        }
        if exclusive { exclusiveUsers[cpu] += sign } else { sharedUsers[cpu] += sign }
    }

    private func users(of cpu: Int) -> (exclusive: Int, shared: Int) {
        cpu < exclusiveUsers.count ? (exclusiveUsers[cpu], sharedUsers[cpu]) : (0, 0)
    }

    /// Whether a tenant holding `held` may enter the rest of `cpus`: each must be free of every other tenant when it
    /// enters as an owner (`exclusive`), of owners otherwise (tenants at idle priority are not counted).
    func canEnter(_ cpus: CPUSet, holding held: CPUSet, exclusive: Bool) -> Bool {
        for cpu in cpus.members where !held.contains(cpu) {
            let (owners, sharers) = users(of: cpu)
            if exclusive ? owners + sharers > 0 : owners > 0 { return false }
        }
        return true
    }

    /// Whether the tenant in `slot` is the only one holding each CPU of its cpuset (tenants at idle priority aside).
    func holdsAlone(slot: Int) -> Bool {
        let own = tenants[slot]
        let counted = Self.isIdle(own.settings, exclusive: own.exclusive) ? 0 : 1
        for cpu in (own.settings.cpus ?? limits.onlineCPUs).members {
            let (exclusive, shared) = users(of: cpu)
            if exclusive + shared - counted > 0 { return false }
        }
        return true
    }

    /// A shared tenant at idle priority: it may run on any CPU, since every other tenant there preempts it.
    static func isIdle(_ settings: CgroupSettings, exclusive: Bool) -> Bool {
        !exclusive && settings.cpuIdle == true
    }

    /// Every way the current state breaks capacity, exclusivity or a guarantee (empty when it is valid).
    public var violations: [String] {
        var found: [String] = []
        let tolerance = 1e-9
        for cpu in exclusiveUsers.indices where exclusiveUsers[cpu] > 0 && exclusiveUsers[cpu] + sharedUsers[cpu] > 1 {
            found.append("CPU \(cpu) is exclusive but used by \(exclusiveUsers[cpu] + sharedUsers[cpu]) tenants")
        }
        if cpuClaimCores > Double(limits.onlineCPUs.count) + tolerance {
            found.append("CPU claims \(cpuClaimCores) cores exceed \(limits.onlineCPUs.count)")
        }
        if memoryBytes > limits.memoryBytes * (1 + tolerance) {
            found.append("memory limits \(memoryBytes) bytes exceed \(limits.memoryBytes)")
        }
        for (link, rate) in linkBitsPerSecond {
            if let capacity = limits.linkBitsPerSecond[link], rate > capacity * (1 + tolerance) {
                found.append("link \(link): ceilings \(rate) bit/s exceed \(capacity)")
            }
        }
        for tenant in tenants {
            found += Self.guaranteeViolations(tenant, onlineCount: limits.onlineCPUs.count)
        }
        return found.sorted()
    }

    static func guaranteeViolations(_ tenant: TenantState, onlineCount: Int) -> [String] {
        var found: [String] = []
        let tolerance = 1e-9
        let cpu = tenant.cpuClaimCores(onlineCount: onlineCount)
        if cpu < tenant.guaranteed.cpuCores * (1 - tolerance) {
            found.append("\(tenant.name): CPU \(cpu) cores below its guarantee \(tenant.guaranteed.cpuCores)")
        }
        let memory = tenant.settings.memoryMaxBytes ?? .infinity
        if memory < tenant.guaranteed.memoryBytes * (1 - tolerance) {
            found.append("\(tenant.name): memory limit \(memory) below its guarantee \(tenant.guaranteed.memoryBytes)")
        }
        for (link, rate) in tenant.bandwidthBitsPerSecond where rate < tenant.guaranteed.networkBitsPerSecond * (1 - tolerance) {
            found.append("\(tenant.name): bandwidth on \(link) \(rate) below its guarantee \(tenant.guaranteed.networkBitsPerSecond)")
        }
        return found
    }

    /// Applies a change (tenant found by name) if it makes nothing worse; see `applyIfSafe(_:at:)`.
    mutating func applyIfSafe(_ change: PlannedChange) -> PlannedChange? {
        guard let slot = index[change.tenant] else { return nil }
        return applyIfSafe(change, at: slot)
    }

    /// Applies a change in place if it makes nothing worse: no CPU given while another tenant holds it against the
    /// exclusivity rule, no total raised above capacity, no tenant lowered below its guarantee. Returns the change
    /// that undoes it (the value it replaced), nil when it is not safe now.
    ///
    /// Exclusivity: an exclusive tenant's CPUs hold no other tenant but those at idle priority. So a tenant at idle
    /// priority may take any CPU, an exclusive tenant may take a CPU that only idle tenants share, and a tenant
    /// leaves idle priority only once its cpuset holds no exclusive tenant's CPU (its cpuset shrinks first).
    mutating func applyIfSafe(_ change: PlannedChange, at slot: Int) -> PlannedChange? {
        let tolerance = 1e-9
        func worse(_ old: Double, _ new: Double, _ floor: Double) -> Bool { new < floor * (1 - tolerance) && new < old }
        let online = limits.onlineCPUs
        let guaranteed = tenants[slot].guaranteed
        switch change.target {
        case .threadAffinity:
            return PlannedChange(tenant: change.tenant, target: .threadAffinity(tenants[slot].settings.cpus ?? CPUSet()))
        case let .knob(knob, value):
            let exclusive = tenants[slot].exclusive
            let old = tenants[slot].settings[knob]
            var after = tenants[slot].settings
            after[knob] = value
            let idleBefore = Self.isIdle(tenants[slot].settings, exclusive: exclusive), idleAfter = Self.isIdle(after, exclusive: exclusive)
            // The kernel refuses a weight for a cgroup at idle priority (EINVAL): it waits until the tenant leaves it.
            if knob == .cpuWeight && tenants[slot].settings.cpuIdle == true { return nil }
            if !idleAfter && (knob == .cpus || idleBefore) {
                // Exclusivity: every CPU newly counted in the cpuset (all of them when leaving idle priority) must be
                // free of conflicting users.
                let oldCPUs = idleBefore ? CPUSet() : tenants[slot].settings.cpus ?? online
                if !canEnter(after.cpus ?? online, holding: oldCPUs, exclusive: exclusive) { return nil }
            }
            // Capacity: a total may rise only while it stays within capacity; a guarantee may be undercut only by
            // a step that does not lower the amount further.
            let claimBefore = TenantState.cpuClaimCores(tenants[slot].settings, exclusive: exclusive, guaranteedCores: guaranteed.cpuCores, onlineCount: online.count)
            let claimAfter = TenantState.cpuClaimCores(after, exclusive: exclusive, guaranteedCores: guaranteed.cpuCores, onlineCount: online.count)
            if claimAfter - claimBefore > tolerance, cpuClaimCores + claimAfter - claimBefore > Double(online.count) + tolerance { return nil }
            if worse(claimBefore, claimAfter, guaranteed.cpuCores) { return nil }
            if knob == .memoryMax {
                let memoryBefore = tenants[slot].settings.memoryMaxBytes ?? .infinity
                let memoryAfter = after.memoryMaxBytes ?? .infinity
                let delta = Self.finite(memoryAfter) - Self.finite(memoryBefore)
                if delta > 0, memoryBytes + delta > limits.memoryBytes * (1 + tolerance) { return nil }
                if worse(memoryBefore, memoryAfter, guaranteed.memoryBytes) { return nil }
            }
            account(slot, sign: -1)
            tenants[slot].settings[knob] = value
            account(slot, sign: 1)
            return PlannedChange(tenant: change.tenant, target: .knob(knob, old ?? .amount(.infinity)))
        case let .bandwidth(link, rate):
            let old = tenants[slot].bandwidthBitsPerSecond[link]
            let delta = Self.finite(rate) - Self.finite(old)
            if let capacity = limits.linkBitsPerSecond[link], delta > 0,
               linkBitsPerSecond[link, default: 0] + delta > capacity * (1 + tolerance) { return nil }
            if worse(old ?? .infinity, rate, guaranteed.networkBitsPerSecond) { return nil }
            if delta != 0 { linkBitsPerSecond[link, default: 0] += delta }
            tenants[slot].bandwidthBitsPerSecond[link] = rate
            return PlannedChange(tenant: change.tenant, target: .bandwidth(link: link, bitsPerSecond: old ?? .infinity))
        }
    }

    private static func finite(_ value: Double?) -> Double {
        guard let value, value.isFinite else { return 0 }
        return value
    }
}
