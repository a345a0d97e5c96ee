import Pool

/// One change of one tenant: a cgroup knob, a link's ceiling, or its pinned threads' affinity.
public struct PlannedChange: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Target: Sendable, Hashable, Codable {
        case knob(CgroupKnob, KnobValue)
        case bandwidth(link: String, bitsPerSecond: Double)
        case threadAffinity(CPUSet)
    }

    public var tenant: String
    public var target: Target

    public init(tenant: String, target: Target) {
        self.tenant = tenant
        self.target = target
    }

    public var description: String {
        switch target {
        case let .knob(knob, .set(set)): "\(tenant): \(knob) = \(set)"
        case let .knob(knob, .amount(amount)): "\(tenant): \(knob) = \(amount)"
        case let .bandwidth(link, rate): "\(tenant): bandwidth on \(link) = \(rate) bit/s"
        case let .threadAffinity(cpus): "\(tenant): pinned threads -> CPUs \(cpus)"
        }
    }
}

/// Orders the changes from one partition to another so that every intermediate state is safe.
///
/// - Important: Invariant 1 of the architecture. Shrinks come before grows; a CPU is taken from its donor before
///   it is given; a step that would break capacity, exclusivity or a guarantee waits until another step makes room.
///   A step never makes a state worse, so from a valid start every prefix of the plan is valid, and a crash at
///   any instant leaves a valid partition. The planner is pure: it simulates, the `Enforcer` writes.
public enum ApplyPlanner {
    /// The ordered changes from `current` to `target` (tenants matched by name; tenants only in `current` are left
    /// alone). Throws `.noSafeOrder` when some changes cannot be ordered safely (a swap with no free CPU).
    public static func plan(
        from current: [TenantState], to target: [TenantState], limits: PartitionLimits
    ) throws(EnforceError) -> [PlannedChange] {
        var state = PartitionState(tenants: current, limits: limits)
        for tenant in target where state.index[tenant.name] == nil {
            state.add(TenantState(name: tenant.name, cgroupPath: tenant.cgroupPath, exclusive: tenant.exclusive, guaranteed: tenant.guaranteed))
        }
        for tenant in target {
            // The tenant's exclusivity and guarantee are the target's from the first step on.
            state.setPolicy(of: tenant)
        }
        var pending: [PlannedChange] = []
        var grows: [PlannedChange] = []
        for tenant in target {
            let now = state.tenants[state.index[tenant.name]!]
            split(from: now, to: tenant, shrinks: &pending, grows: &grows)
        }
        pending += grows
        var plan: [PlannedChange] = []
        plan.reserveCapacity(pending.count)
        var done = [Bool](repeating: false, count: pending.count)
        // Passes over the pending changes in order (shrinks first), taking every change that is safe now, until
        // all are taken or a pass takes none.
        while plan.count < pending.count {
            var progressed = false
            for index in pending.indices where !done[index] && state.applyIfSafe(pending[index]) {
                plan.append(pending[index])
                done[index] = true
                progressed = true
            }
            if !progressed {
                let stuck = pending.indices.filter { !done[$0] }.map { pending[$0].tenant }
                throw .noSafeOrder(tenants: Array(Set(stuck)).sorted())
            }
        }
        return plan
    }

    /// A tenant's changes, each into the shrink list or the grow list. A CPU set that both loses and gains CPUs
    /// first shrinks to what it keeps (when it keeps any), then grows to the target. Memory nodes change among the
    /// grows, after the CPUs (the `Enforcer` then migrates the pages).
    static func split(from now: TenantState, to target: TenantState, shrinks: inout [PlannedChange], grows: inout [PlannedChange]) {
        func add(_ target: PlannedChange.Target, shrinking: Bool) {
            let change = PlannedChange(tenant: now.name, target: target)
            if shrinking { shrinks.append(change) } else { grows.append(change) }
        }
        for knob in CgroupKnob.allCases {
            guard let wanted = target.settings[knob], wanted != now.settings[knob] else { continue }
            switch (knob, now.settings[knob], wanted) {
            case let (.cpus, .set(old)?, .set(new)):
                let kept = old.intersection(new)
                if !kept.isEmpty && kept != old { add(.knob(.cpus, .set(kept)), shrinking: true) }
                if kept != new { add(.knob(.cpus, .set(new)), shrinking: false) }
            case let (_, .amount(old)?, .amount(new)):
                add(.knob(knob, .amount(new)), shrinking: new < old)
            default:
                add(.knob(knob, wanted), shrinking: false)
            }
        }
        for (link, rate) in target.bandwidthBitsPerSecond.sorted(by: { $0.key < $1.key }) where now.bandwidthBitsPerSecond[link] != rate {
            add(.bandwidth(link: link, bitsPerSecond: rate), shrinking: rate < (now.bandwidthBitsPerSecond[link] ?? .infinity))
        }
        if !target.pinnedThreadIDs.isEmpty, let cpus = target.settings.cpus,
           now.pinnedThreadIDs != target.pinnedThreadIDs || now.settings.cpus != cpus {
            // Threads follow the cpuset: after the CPUs are granted (a grow), they are pinned to them.
            add(.threadAffinity(cpus), shrinking: false)
        }
    }
}

/// The partition as the planner simulates it, with running totals so each step is checked in O(its CPUs).
public struct PartitionState: Sendable {
    public private(set) var tenants: [TenantState] = []
    var index: [String: Int] = [:]
    let limits: PartitionLimits
    /// How many exclusive and shared tenants have each CPU in their cpuset.
    private var exclusiveUsers: [Int: Int] = [:]
    private var sharedUsers: [Int: Int] = [:]
    private var cpuClaimCores = 0.0
    private var memoryBytes = 0.0
    private var linkBitsPerSecond: [String: Double] = [:]

    public init(tenants: [TenantState], limits: PartitionLimits) {
        self.limits = limits
        for tenant in tenants { add(tenant) }
    }

    mutating func add(_ tenant: TenantState) {
        index[tenant.name] = tenants.count
        tenants.append(tenant)
        account(tenant, sign: 1)
    }

    mutating func setPolicy(of target: TenantState) {
        let position = index[target.name]!
        account(tenants[position], sign: -1)
        tenants[position].exclusive = target.exclusive
        tenants[position].guaranteed = target.guaranteed
        tenants[position].cgroupPath = target.cgroupPath
        if !target.pinnedThreadIDs.isEmpty { tenants[position].pinnedThreadIDs = target.pinnedThreadIDs }
        account(tenants[position], sign: 1)
    }

    private mutating func account(_ tenant: TenantState, sign: Int) {
        for cpu in (tenant.settings.cpus ?? limits.onlineCPUs).members {
            if tenant.exclusive { exclusiveUsers[cpu, default: 0] += sign } else { sharedUsers[cpu, default: 0] += sign }
        }
        cpuClaimCores += Double(sign) * tenant.cpuClaimCores(onlineCount: limits.onlineCPUs.count)
        if let bytes = tenant.settings.memoryMaxBytes, bytes.isFinite { memoryBytes += Double(sign) * bytes }
        for (link, rate) in tenant.bandwidthBitsPerSecond where rate.isFinite {
            linkBitsPerSecond[link, default: 0] += Double(sign) * rate
        }
    }

    /// Every way the current state breaks capacity, exclusivity or a guarantee (empty when it is valid).
    public var violations: [String] {
        var found: [String] = []
        let tolerance = 1e-9
        for (cpu, users) in exclusiveUsers where users > 0 && users + sharedUsers[cpu, default: 0] > 1 {
            found.append("CPU \(cpu) is exclusive but used by \(users + sharedUsers[cpu, default: 0]) tenants")
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

    /// Applies a change if it makes nothing worse: no CPU given while another tenant holds it against the
    /// exclusivity rule, no total raised above capacity, no tenant lowered below its guarantee.
    mutating func applyIfSafe(_ change: PlannedChange) -> Bool {
        guard let position = index[change.tenant] else { return false }
        let before = tenants[position]
        var after = before
        switch change.target {
        case let .knob(knob, value): after.settings[knob] = value
        case let .bandwidth(link, rate): after.bandwidthBitsPerSecond[link] = rate
        case .threadAffinity: return true
        }
        let online = limits.onlineCPUs
        // Exclusivity: every CPU newly in the cpuset must be free of conflicting users.
        let oldCPUs = before.settings.cpus ?? online
        let newCPUs = after.settings.cpus ?? online
        for cpu in newCPUs.members where !oldCPUs.contains(cpu) {
            let exclusiveOthers = exclusiveUsers[cpu, default: 0]
            let sharedOthers = sharedUsers[cpu, default: 0]
            if after.exclusive ? exclusiveOthers + sharedOthers > 0 : exclusiveOthers > 0 { return false }
        }
        // Capacity: a total may rise only while it stays within capacity.
        let tolerance = 1e-9
        let cpuDelta = after.cpuClaimCores(onlineCount: online.count) - before.cpuClaimCores(onlineCount: online.count)
        if cpuDelta > tolerance, cpuClaimCores + cpuDelta > Double(online.count) + tolerance { return false }
        let memoryDelta = Self.finite(after.settings.memoryMaxBytes) - Self.finite(before.settings.memoryMaxBytes)
        if memoryDelta > 0, memoryBytes + memoryDelta > limits.memoryBytes * (1 + tolerance) { return false }
        if case let .bandwidth(link, rate) = change.target, let capacity = limits.linkBitsPerSecond[link] {
            let delta = Self.finite(rate) - Self.finite(before.bandwidthBitsPerSecond[link])
            if delta > 0, linkBitsPerSecond[link, default: 0] + delta > capacity * (1 + tolerance) { return false }
        }
        // Guarantees: a step may lower an amount below the tenant's guarantee only if it was already below.
        if Self.worsensGuarantee(from: before, to: after, onlineCount: online.count) { return false }
        account(before, sign: -1)
        tenants[position] = after
        account(after, sign: 1)
        return true
    }

    static func worsensGuarantee(from before: TenantState, to after: TenantState, onlineCount: Int) -> Bool {
        let guaranteed = after.guaranteed
        func worse(_ old: Double, _ new: Double, _ floor: Double) -> Bool { new < floor * (1 - 1e-9) && new < old }
        if worse(before.cpuClaimCores(onlineCount: onlineCount), after.cpuClaimCores(onlineCount: onlineCount), guaranteed.cpuCores) {
            return true
        }
        if worse(before.settings.memoryMaxBytes ?? .infinity, after.settings.memoryMaxBytes ?? .infinity, guaranteed.memoryBytes) {
            return true
        }
        return after.bandwidthBitsPerSecond.contains { link, rate in
            worse(before.bandwidthBitsPerSecond[link] ?? .infinity, rate, guaranteed.networkBitsPerSecond)
        }
    }

    private static func finite(_ value: Double?) -> Double {
        guard let value, value.isFinite else { return 0 }
        return value
    }
}
