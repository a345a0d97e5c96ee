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
        return try plan(in: &state, to: target)
    }

    /// The same, simulated on a partition state the caller keeps: on return `state` is the target partition.
    public static func plan(in state: inout PartitionState, to target: [TenantState]) throws(EnforceError) -> [PlannedChange] {
        let slots = target.map { tenant in
            state.index[tenant.name]
                ?? state.add(TenantState(name: tenant.name, cgroupPath: tenant.cgroupPath, exclusive: tenant.exclusive, guaranteed: tenant.guaranteed))
        }
        var buffers = PlanBuffers()
        try plan(in: &state, slots: slots, targets: target, into: &buffers)
        return buffers.plan
    }

    /// The planner itself: `targets[i]` is the tenant in `slots[i]` of `state`. Fills `buffers.plan` (and the
    /// change undoing each step in `buffers.inverses`); on a throw `state` is partly changed and the caller
    /// puts it back.
    static func plan(in state: inout PartitionState, slots: [Int], targets: [TenantState], into buffers: inout PlanBuffers) throws(EnforceError) {
        buffers.reset()
        for (slot, target) in zip(slots, targets) {
            split(from: state.tenants[slot], to: target, slot: slot, into: &buffers)
        }
        buffers.arriving.append(contentsOf: repeatElement(false, count: state.tenants.count))
        for (slot, target) in zip(slots, targets) {
            // The guarantee is the target's from the first step on, and so is a lost exclusivity. A tenant that
            // becomes an owner is counted as shared until its last step: counted as an owner on the shared CPUs it
            // is leaving, it would block the way back of the owner it replaces (a swap of an owned core with no
            // order). It enters a CPU only once nobody else holds it.
            let arriving = target.exclusive && !state.tenants[slot].exclusive
            buffers.arriving[slot] = arriving
            state.setPolicy(at: slot, from: target, exclusive: target.exclusive && !arriving)
        }
        // Shrinks first, then grows.
        buffers.pending.append(contentsOf: buffers.grows)
        buffers.pendingSlots.append(contentsOf: buffers.growSlots)
        buffers.done.append(contentsOf: repeatElement(false, count: buffers.pending.count))
        // Passes over the pending changes in order, taking every change that is safe now, until all are taken or
        // a pass takes none.
        while buffers.plan.count < buffers.pending.count {
            var progressed = false
            for index in buffers.pending.indices where !buffers.done[index] {
                let slot = buffers.pendingSlots[index]
                if buffers.arriving[slot], case let .knob(.cpus, .set(cpus)) = buffers.pending[index].target,
                   !state.canEnter(cpus, holding: state.tenants[slot].settings.cpus ?? state.limits.onlineCPUs, exclusive: true) { continue }
                guard let inverse = state.applyIfSafe(buffers.pending[index], at: slot) else { continue }
                buffers.plan.append(buffers.pending[index])
                buffers.planSlots.append(buffers.pendingSlots[index])
                buffers.inverses.append(inverse)
                buffers.done[index] = true
                progressed = true
            }
            if !progressed {
                let stuck = buffers.pending.indices.filter { !buffers.done[$0] }.map { buffers.pending[$0].tenant }
                throw .noSafeOrder(tenants: Array(Set(stuck)).sorted())
            }
        }
        for (slot, target) in zip(slots, targets) where buffers.arriving[slot] {
            guard state.holdsAlone(slot: slot) else { throw .noSafeOrder(tenants: [target.name]) }
            state.setPolicy(at: slot, from: target, exclusive: true)
        }
    }

    /// A tenant's changes, each into the shrink list or the grow list. A CPU set that both loses and gains CPUs
    /// first shrinks to what it keeps (when it keeps any), then grows to the target. Memory nodes change among the
    /// grows, after the CPUs (the `Enforcer` then migrates the pages).
    static func split(from now: TenantState, to target: TenantState, slot: Int, into buffers: inout PlanBuffers) {
        func add(_ target: PlannedChange.Target, shrinking: Bool) {
            let change = PlannedChange(tenant: now.name, target: target)
            if shrinking {
                buffers.pending.append(change)
                buffers.pendingSlots.append(slot)
            } else {
                buffers.grows.append(change)
                buffers.growSlots.append(slot)
            }
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
        func addBandwidth(link: String, rate: Double) {
            guard now.bandwidthBitsPerSecond[link] != rate else { return }
            add(.bandwidth(link: link, bitsPerSecond: rate), shrinking: rate < (now.bandwidthBitsPerSecond[link] ?? .infinity))
        }
        if target.bandwidthBitsPerSecond.count <= 1 {
            // The usual single link needs no sorting (sorting a dictionary allocates).
            for (link, rate) in target.bandwidthBitsPerSecond { addBandwidth(link: link, rate: rate) }
        } else {
            for (link, rate) in target.bandwidthBitsPerSecond.sorted(by: { $0.key < $1.key }) { addBandwidth(link: link, rate: rate) }
        }
        if !target.pinnedThreadIDs.isEmpty, let cpus = target.settings.cpus,
           now.pinnedThreadIDs != target.pinnedThreadIDs || now.settings.cpus != cpus {
            // Threads follow the cpuset: after the CPUs are granted (a grow), they are pinned to them.
            add(.threadAffinity(cpus), shrinking: false)
        }
    }
}

/// The planner's working lists, kept by the `Enforcer` between applies so a steady tick allocates nothing.
struct PlanBuffers {
    /// Shrinks, then (once split) the grows appended: the order the passes try them in.
    var pending: [PlannedChange] = []
    var pendingSlots: [Int] = []
    var grows: [PlannedChange] = []
    var growSlots: [Int] = []
    var done: [Bool] = []
    /// The plan in order, each step's tenant slot, and the change that undoes it.
    var plan: [PlannedChange] = []
    var planSlots: [Int] = []
    var inverses: [PlannedChange] = []
    /// By slot: the tenant becomes exclusive in this plan (counted as shared until the plan's end).
    var arriving: [Bool] = []

    mutating func reset() {
        pending.removeAll(keepingCapacity: true)
        pendingSlots.removeAll(keepingCapacity: true)
        grows.removeAll(keepingCapacity: true)
        growSlots.removeAll(keepingCapacity: true)
        done.removeAll(keepingCapacity: true)
        plan.removeAll(keepingCapacity: true)
        planSlots.removeAll(keepingCapacity: true)
        inverses.removeAll(keepingCapacity: true)
        arriving.removeAll(keepingCapacity: true)
    }
}
