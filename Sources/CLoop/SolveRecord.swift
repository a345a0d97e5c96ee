import Atomics
import Pool

/// What one solve decided and why: the material of `dpm explain`.
public final class SolveRecord: AtomicReference, @unchecked Sendable {
    /// CLOCK_MONOTONIC time of the tick that solved.
    public let atNanoseconds: UInt64
    /// Why the loop solved on that tick (table change, a tenant's forecast moved, an SLO was missed, every tick).
    public let reason: String
    public let outcome: SolveOutcome?
    /// What the loop applied after damping, and the tenants it changed.
    public let applied: Allocation
    public let changes: [Damping.Change]
    /// A solve or enforce failure, if there was one (the previous allocation then stays).
    public let failure: String?

    init(atNanoseconds: UInt64, reason: String, outcome: SolveOutcome?, applied: Allocation, changes: [Damping.Change], failure: String?) {
        self.atNanoseconds = atNanoseconds
        self.reason = reason
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

    /// The records, newest first.
    public func recent() -> [SolveRecord] {
        let count = written.load(ordering: .acquiring)
        return (0..<min(count, Self.capacity)).compactMap { back in
            records[(count - 1 - back) % Self.capacity].load(ordering: .acquiring)
        }
    }
}
