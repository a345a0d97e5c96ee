import Atomics
import Pool

/// What one solve decided and why: the material of `dpm explain`.
public final class SolveRecord: AtomicReference, @unchecked Sendable {
    /// Why the loop solved on a tick, as numbers: the tick thread records it, readers format it (`description`).
    public enum Cause: Sendable, Equatable, CustomStringConvertible {
        case everyTick
        case tableChanged(generation: UInt64)
        /// The tenant's forecast (held at its recent peak, cores at quantile) moved past the threshold.
        case forecastMoved(tenant: String, toCpuCores: Double, lastSolvedCpuCores: Double)
        case objectiveMissed(tenant: String, runQueueWaitP99Nanoseconds: Double)
        /// The shrink hold of a tenant whose shrink the last solve held back ended.
        case shrinkHoldEnded
        /// The tenant used its whole CPU quota within the last quota period: its demand was raised to `toCpuCores`
        /// (it held `heldCpuCores`) until a throttle report shows its runnable demand.
        case quotaSaturated(tenant: String, toCpuCores: Double, heldCpuCores: Double)

        public var description: String {
            switch self {
            case .everyTick: "every tick"
            case let .tableChanged(generation): "tenant table changed (generation \(generation))"
            case let .forecastMoved(tenant, now, last): "forecast of \(tenant) moved to \(now) cores (last solve used \(last))"
            case let .objectiveMissed(tenant, p99): "\(tenant) missed its run-queue wait objective (p99 \(p99) ns)"
            case .shrinkHoldEnded: "a shrink held back by the shrink hold may now apply"
            case let .quotaSaturated(tenant, raised, held): "\(tenant) used its whole quota (it held \(held) cores): demand raised to \(raised) cores"
            }
        }
    }

    /// CLOCK_MONOTONIC time of the tick that solved.
    public let atNanoseconds: UInt64
    public let cause: Cause
    /// Why the loop solved on that tick (table change, a tenant's forecast moved, an SLO was missed, every tick).
    public var reason: String { cause.description }
    public let outcome: SolveOutcome?
    /// What the loop applied after damping, and the tenants it changed.
    public let applied: Allocation
    public let changes: [Damping.Change]
    /// A solve or enforce failure, if there was one (the previous allocation then stays).
    public let failure: String?

    init(atNanoseconds: UInt64, cause: Cause, outcome: SolveOutcome?, applied: Allocation, changes: [Damping.Change], failure: String?) {
        self.atNanoseconds = atNanoseconds
        self.cause = cause
        self.outcome = outcome
        self.applied = applied
        self.changes = changes
        self.failure = failure
    }
}

/// The last `capacity` solve records, written by the tick thread and read by the control API without locks.
public final class SolveHistory: Sendable {
    public static let capacity = 32
    private let records: [ManagedAtomic<SolveRecord?>] = (0..<SolveHistory.capacity).map { _ in ManagedAtomic(nil) }
    private let written = ManagedAtomic<Int>(0)

    public init() {}

    /// Tick thread: adds a record, replacing the oldest.
    func append(_ record: SolveRecord) {
        let index = written.load(ordering: .relaxed)
        records[index % Self.capacity].store(record, ordering: .releasing)
        written.store(index + 1, ordering: .releasing)
    }

    /// Records appended since start (a solve that changed nothing appends none).
    public var appendedCount: Int { written.load(ordering: .acquiring) }

    /// The records, newest first.
    public func recent() -> [SolveRecord] {
        let count = written.load(ordering: .acquiring)
        return (0..<min(count, Self.capacity)).compactMap { back in
            records[(count - 1 - back) % Self.capacity].load(ordering: .acquiring)
        }
    }
}
