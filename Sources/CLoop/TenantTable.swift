import Atomics
import Pool

/// The tenants the loop serves during one stretch of ticks: built aside on the slow side, handed to the tick thread
/// through `TenantTableExchange`, and swapped in at a tick boundary.
public final class TenantTable: AtomicReference, @unchecked Sendable {
    /// Increases with every table the agent builds.
    public let generation: UInt64
    public let host: HostCapacity
    public let specs: [TenantSpec]
    /// `slots[i]` is the dense slot of `specs[i]` (its index into the loop's preallocated state and into BPF maps).
    public let slots: [Int]
    /// Scratch the tick thread fills before a solve (`demands[i]` for `specs[i]`); preallocated here so the tick
    /// does not allocate. Only the tick thread touches it once the table is published.
    var demands: [TenantDemand]
    /// Scratch like `demands`: whether `specs[i]` still has its cgroup.
    var present: [Bool]
    /// Scratch like `demands`: what the last solve gave `specs[i]`, each with room for every core of the host.
    var proposed: [TenantAllocation]
    /// `plan`'s least CPU demand factor for `specs[i]` (1 without a plan).
    let cpuDemandFactors: [Double]
    /// What `specs[i]` holds in the applied allocation (nil: nothing applied yet), kept by the tick thread from the
    /// adoption on, so a solve compares its result without looking tenants up by name.
    var current: [TenantAllocation?]
    /// The solver set up for exactly these tenants (built on the slow side; nil in tests of the table alone).
    let plan: (any SolvePlan)?
    /// `cpuPriors[i]` is central's CPU prior for `specs[i]`, which the tick blends its forecast with (nil: none).
    public let cpuPriors: [SeasonalPrior?]

    public init(
        generation: UInt64, host: HostCapacity, specs: [TenantSpec], slots: [Int], plan: (any SolvePlan)? = nil,
        cpuPriors: [SeasonalPrior?]? = nil
    ) {
        precondition(specs.count == slots.count, "one slot per tenant")
        precondition(cpuPriors.map { $0.count == specs.count } ?? true, "one prior (or nil) per tenant")
        self.cpuPriors = cpuPriors ?? [SeasonalPrior?](repeating: nil, count: specs.count)
        self.generation = generation
        self.host = host
        self.specs = specs
        self.slots = slots
        self.plan = plan
        demands = [TenantDemand](repeating: TenantDemand(), count: specs.count)
        present = [Bool](repeating: true, count: specs.count)
        proposed = specs.map { _ in
            var allocation = TenantAllocation()
            allocation.exclusiveCoreIDs.reserveCapacity(host.cores.count)
            return allocation
        }
        current = [TenantAllocation?](repeating: nil, count: specs.count)
        cpuDemandFactors = specs.indices.map { plan?.cpuDemandFactor(index: $0) ?? 1 }
    }

    /// The index of the tenant called `name`, if it is in this table.
    public func index(of name: String) -> Int? { specs.firstIndex { $0.name == name } }
}

/// The hand-over point between the slow side, which publishes tables, and the tick thread, which adopts them.
///
/// The slow side keeps a strong reference to every table until the tick has adopted its successor, so the tick
/// thread never drops the last reference (which would free memory on the tick).
public final class TenantTableExchange: Sendable {
    private let pending = ManagedAtomic<TenantTable?>(nil)
    private let adoptedGeneration = ManagedAtomic<UInt64>(0)

    public init() {}

    /// Slow side: offer a table; it replaces any table not yet adopted.
    public func publish(_ table: TenantTable) { pending.store(table, ordering: .releasing) }

    /// Tick thread: the table to switch to, if one is waiting.
    public func take() -> TenantTable? {
        guard pending.load(ordering: .relaxed) != nil else { return nil }
        let table = pending.exchange(nil, ordering: .acquiring)
        if let table { adoptedGeneration.store(table.generation, ordering: .releasing) }
        return table
    }

    /// Generation of the table the tick thread runs with.
    public var currentGeneration: UInt64 { adoptedGeneration.load(ordering: .acquiring) }
}

/// Hands out dense slots to tenants and takes them back once no published table names them.
public struct SlotAllocator: Sendable, Equatable {
    public let capacity: Int
    private var owner: [String: Int] = [:]
    private var free: [Int]

    public init(capacity: Int) {
        self.capacity = capacity
        free = Array((0..<capacity).reversed())
    }

    /// The slot of `name`, and whether it was just given (so its models and telemetry need preparing).
    public mutating func slot(for name: String) -> (slot: Int, isNew: Bool)? {
        if let slot = owner[name] { return (slot, false) }
        guard let slot = free.popLast() else { return nil }
        owner[name] = slot
        return (slot, true)
    }

    /// Gives back the slot of `name`, if it has one.
    public mutating func release(_ name: String) {
        guard let slot = owner.removeValue(forKey: name) else { return }
        free.append(slot)
    }

    /// Gives back the slots of every tenant not in `keep`; returns them.
    public mutating func release(allBut keep: Set<String>) -> [Int] {
        let gone = owner.filter { !keep.contains($0.key) }
        for (name, slot) in gone {
            owner[name] = nil
            free.append(slot)
        }
        return gone.values.sorted()
    }
}
