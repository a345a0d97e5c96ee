import Pool

// The four places where the loop meets the other modules. Each is a protocol so the loop can be tested and run
// against whichever implementation the host offers; the adapters to the real modules live beside these in CLoop
// (the only module that imports its siblings).
//
// - Important: every method marked "tick thread" is called on the tick thread and must not allocate, lock or
//   await. Methods marked "slow side" run on the agent's control thread, never concurrently with a tick that uses
//   the same slot: a slot is prepared before the tenant table naming it is published, and released only after the
//   tick has adopted a table without it.

/// Kernel measurements for every tenant slot, refilled by a `TelemetrySource` on each tick.
///
/// Preallocated for `capacity` slots; one writer (the telemetry source, on the tick thread).
public final class TelemetryFrame: @unchecked Sendable {
    /// Log2 buckets of run-queue wait: bucket `b` counts waits in [2^b, 2^(b+1)) nanoseconds.
    public static let waitBucketCount = 32

    public let capacity: Int
    /// CPU time each tenant used since the previous drain, in nanoseconds.
    public let cpuNanoseconds: UnsafeMutableBufferPointer<UInt64>
    /// Run-queue waits since the previous drain, `waitBucketCount` buckets per slot (slot-major); written only
    /// through `setWaits` so that `waitBucketMasks` says which buckets hold counts.
    private let waitBuckets: UnsafeMutableBufferPointer<UInt64>
    /// Per slot, bit `b` set when bucket `b` has waits since the previous drain: a slot whose mask is zero had no
    /// waits, and the loop skips its wait window without reading the buckets.
    public let waitBucketMasks: UnsafeMutableBufferPointer<UInt32>
    /// Time each tenant was held runnable by its CFS quota (throttled) since the previous drain, in nanoseconds, as
    /// the kernel's `cpu.stat` reports it: a whole period's throttling at once, when the period ends. Measured only
    /// for the slots the loop marks in `watchesThrottling`; zero otherwise.
    public let throttledNanoseconds: UnsafeMutableBufferPointer<UInt64>
    /// Per slot, set by the loop: the tenant spends its quota faster than it refills, so its throttling is read.
    public let watchesThrottling: UnsafeMutableBufferPointer<Bool>
    /// Per slot, the part of its tasks' ongoing runs that no `cpuNanoseconds` carried yet, from
    /// `ongoingRunsSinceNanoseconds` (or the run's start, if later) to the drain, summed over CPUs, in nanoseconds
    /// (0 when the source cannot see running tasks). A spinner's CPU time is published only when it switches out,
    /// which under a CFS quota is the throttle, up to a 4 ms scheduler tick after it spent the quota: this shows the
    /// run before. Only for the saturation rule: the same time reaches `cpuNanoseconds` when the task switches out,
    /// so added to usage it would count twice.
    public let ongoingRunNanoseconds: UnsafeMutableBufferPointer<UInt64>
    /// Set by the loop before each drain (CLOCK_MONOTONIC): where the window of `ongoingRunNanoseconds` starts.
    public var ongoingRunsSinceNanoseconds: UInt64 = 0
    /// Memory each tenant holds, in bytes (NaN when the source does not measure it).
    public let memoryBytes: UnsafeMutableBufferPointer<Double>
    /// Whether the source measures run-queue wait at all (a cgroup-file source does not).
    public var measuresRunQueueWait = false
    /// Set by the source when a tenant's cgroup disappeared; the agent retires the tenant.
    public let vanished: UnsafeMutableBufferPointer<Bool>
    /// Records the kernel side had to drop since the previous drain.
    public var droppedRecords: UInt64 = 0

    public init(capacity: Int) {
        self.capacity = capacity
        cpuNanoseconds = .filled(capacity, with: 0)
        waitBuckets = .filled(capacity * Self.waitBucketCount, with: 0)
        waitBucketMasks = .filled(capacity, with: 0)
        vanished = .filled(capacity, with: false)
        throttledNanoseconds = .filled(capacity, with: 0)
        watchesThrottling = .filled(capacity, with: false)
        ongoingRunNanoseconds = .filled(capacity, with: 0)
        memoryBytes = .filled(capacity, with: .nan)
    }

    deinit {
        cpuNanoseconds.deallocate()
        waitBuckets.deallocate()
        waitBucketMasks.deallocate()
        vanished.deallocate()
        throttledNanoseconds.deallocate()
        watchesThrottling.deallocate()
        ongoingRunNanoseconds.deallocate()
        memoryBytes.deallocate()
    }

    /// Sets the number of waits in one bucket of one slot since the previous drain (tick thread, the source).
    @inline(__always)
    public func setWaits(_ count: UInt64, slot: Int, bucket: Int) {
        waitBuckets[slot * Self.waitBucketCount + bucket] = count
        if count != 0 { waitBucketMasks[slot] |= 1 << UInt32(bucket) } else { waitBucketMasks[slot] &= ~(1 << UInt32(bucket)) }
    }

    /// The waits in one bucket of one slot since the previous drain.
    @inline(__always)
    public func waits(slot: Int, bucket: Int) -> UInt64 { waitBuckets[slot * Self.waitBucketCount + bucket] }

    /// Zeroes one slot's per-interval counts (tick thread): only the wait buckets its mask marks.
    @inline(__always)
    public func clear(slot: Int) {
        cpuNanoseconds[slot] = 0
        throttledNanoseconds[slot] = 0
        ongoingRunNanoseconds[slot] = 0
        var mask = waitBucketMasks[slot]
        let base = slot * Self.waitBucketCount
        while mask != 0 {
            waitBuckets[base + mask.trailingZeroBitCount] = 0
            mask &= mask - 1
        }
        waitBucketMasks[slot] = 0
    }
}

/// Where per-tenant kernel counters come from (BPF programs through BPFLoader, or cgroup accounting files).
public protocol TelemetrySource: AnyObject {
    /// A short name for logs and `status`.
    var sourceName: String { get }
    /// Slow side: start measuring the tenant whose cgroup is `cgroupPath` (relative to the cgroup root) in `slot`.
    func attach(slot: Int, cgroupPath: String) throws
    /// Slow side: stop measuring `slot`.
    func detach(slot: Int)
    /// Tick thread: write into `frame` what each attached slot did since the previous drain, and, if the source sees
    /// them, its ongoing runs since `frame.ongoingRunsSinceNanoseconds`.
    func drain(into frame: TelemetryFrame, nowNanoseconds: UInt64)
    /// Slow side: detach everything and release kernel objects (unpin maps, detach programs).
    func close()
}

/// Turns each tenant's measured usage into forecast demand (Predict).
public protocol DemandForecaster: AnyObject {
    /// Slow side: give `slot` a fresh model for `spec` (history of a previous tenant in the slot is dropped),
    /// starting from central's CPU prior for it when there is one.
    func prepare(slot: Int, spec: TenantSpec, cpuPrior: SeasonalPrior?)
    /// Tick thread, when it adopts a tenant table: `cpuPrior` is the table's CPU prior for `slot` (nil: none); a
    /// forecaster takes it if it differs from its own. Called only on table changes, which may allocate.
    func adopt(cpuPrior: SeasonalPrior?, slot: Int)
    /// Tick thread: feed one observation of `usage` at `nowNanoseconds` and return the demand forecast.
    func observe(slot: Int, usage: ResourceVector, runQueueWaitP99Nanoseconds: Double?, nowNanoseconds: UInt64) -> TenantDemand
}

/// Why a tenant got what it got, as `dpm explain` shows it.
public struct TenantRationale: Sendable, Codable, Equatable {
    /// Constraints that held the tenant's allocation where it is (capacity, its cap, its guarantee…).
    public var bindingConstraints: [String]
    /// Cost terms of the solver's objective for this tenant, by name.
    public var costTerms: [String: Double]

    public init(bindingConstraints: [String] = [], costTerms: [String: Double] = [:]) {
        self.bindingConstraints = bindingConstraints
        self.costTerms = costTerms
    }
}

/// What a solve that changed the applied allocation produced (kept in its `SolveRecord`).
public struct SolveOutcome: Sendable {
    public var allocation: Allocation
    /// Why the tenants whose allocation changed got what they got (filled by the loop through
    /// `SolvePlan.explain`, only for those tenants: explanations cost allocations).
    public var explanations: [String: TenantRationale]
    /// Simplex iterations (or comparable work units) the solve took.
    public var iterations: Int

    public init(allocation: Allocation, explanations: [String: TenantRationale] = [:], iterations: Int = 0) {
        self.allocation = allocation
        self.explanations = explanations
        self.iterations = iterations
    }
}

/// Turns forecasts into an allocation (Solve): builds, for each tenant table, a plan that the tick re-solves.
public protocol AllocationSolving: AnyObject {
    /// Slow side: set up the solver for these tenants (its columns stay fixed while the table lives), warm from
    /// `current`.
    func plan(host: HostCapacity, specs: [TenantSpec], current: Allocation) throws -> any SolvePlan
}

/// The solver of one tenant table.
public protocol SolvePlan: AnyObject {
    /// Tick thread, only on ticks that need a solve: `demands[i]` and `present[i]` belong to the table's
    /// `specs[i]`, and what it gets goes to `allocations[i]` (a tenant not present, its cgroup vanished, gets
    /// nothing), reusing each element's storage: no allocation once `allocations` holds an element per tenant with
    /// room for its cores. Returns the solver's iterations (simplex pivots or comparable work units).
    func solve(demands: [TenantDemand], present: [Bool], into allocations: inout [TenantAllocation]) throws -> Int
    /// The least factor the solver multiplies `specs[i]`'s CPU forecast by before costing it (latency sizing; 1 when
    /// it takes the forecast as it is).
    func cpuDemandFactor(index: Int) -> Double
    /// Tick thread, right after `solve`: why the tenants called `names` got what they got on that solve.
    func explain(names: [String]) -> [String: TenantRationale]
}

/// Makes the kernel obey an allocation (Enforce), or, in dry-run mode, only says what it would write.
public protocol AllocationEnforcing: AnyObject {
    /// Slow side, once at start: record the baseline of every tenant's control files; finds a state file left by a
    /// killed agent and restores it first. Returns a line per action taken, for the log.
    func start(specs: [TenantSpec]) throws -> [String]
    /// Tick thread: apply `allocation` for `specs`, writing only what changed. Returns the number of writes made.
    func apply(_ allocation: Allocation, specs: [TenantSpec], host: HostCapacity) throws -> Int
    /// Slow side: put every touched file back to its baseline and remove the state file.
    func restore() throws -> [String]
    /// Slow side, when a tenant is retired because its cgroup vanished: forget what was applied to it and drop
    /// from the baseline the files that no longer exist. Returns a line per action taken, for the log.
    func retire(tenant name: String) -> [String]
}

extension AllocationEnforcing {
    /// An enforcer that keeps no per-tenant kernel state has nothing to drop.
    public func retire(tenant name: String) -> [String] { [] }
}
