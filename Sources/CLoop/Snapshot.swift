import Atomics

/// One tenant as the last tick saw it: plain numbers only, so it can be copied under a sequence lock.
public struct TenantView: Sendable, Equatable {
    public var slot: Int32 = -1
    /// CPU used over the last tick, in cores.
    public var usageCpuCores: Double = 0
    /// CPU used, averaged over about the last 100 ticks (exponentially weighted), in cores.
    public var usageCpuCoresAverage: Double = 0
    /// Memory in use, in bytes (NaN when the telemetry source does not measure it).
    public var usageMemoryBytes: Double = .nan
    public var forecastCpuExpected: Double = 0
    public var forecastCpuAtQuantile: Double = 0
    public var forecastCpuConfidence: Double = 0
    /// Exclusive CPUs as a bit mask (CPU n is bit n; CPUs from 128 on are not shown).
    public var exclusiveCoreMaskLow: UInt64 = 0
    public var exclusiveCoreMaskHigh: UInt64 = 0
    public var sharedCpuCores: Double = 0
    public var cpuWeight: Int32 = 0
    public var memoryMaxBytes: Double = .infinity
    /// Run-queue wait quantiles over the recent window, in nanoseconds (NaN when not measured).
    public var runQueueWaitP50Nanoseconds: Double = .nan
    public var runQueueWaitP90Nanoseconds: Double = .nan
    public var runQueueWaitP99Nanoseconds: Double = .nan
    /// Ticks on which the tenant's run-queue wait p99 was above its objective.
    public var sloViolationTicks: UInt64 = 0
    /// Solves this tenant triggered (its forecast moved or it missed its objective), changing anything or not.
    public var solvesTriggered: UInt64 = 0
    /// Total CPU time seen since the tenant was adopted, in nanoseconds.
    public var cpuNanosecondsTotal: UInt64 = 0
    /// When its allocation last changed (CLOCK_MONOTONIC ns; 0 = never).
    public var lastChangeNanoseconds: UInt64 = 0
    public var vanished = false

    public init() {}

    /// Whether the tenant holds exclusive cores: its CPU is then exactly those cores, with no quota of its own.
    public var ownsExclusiveCores: Bool { exclusiveCoreMaskLow != 0 || exclusiveCoreMaskHigh != 0 }

    /// The exclusive CPUs as a list.
    public var exclusiveCoreIDs: [Int] {
        (0..<64).filter { exclusiveCoreMaskLow & (1 << UInt64($0)) != 0 } + (0..<64).filter { exclusiveCoreMaskHigh & (1 << UInt64($0)) != 0 }.map { $0 + 64 }
    }

    /// Sets the exclusive CPU mask from a list (CPUs ≥ 128 are dropped from the view, not from the allocation).
    public mutating func setExclusiveCores(_ coreIDs: [Int]) {
        exclusiveCoreMaskLow = 0
        exclusiveCoreMaskHigh = 0
        for core in coreIDs where core >= 0 && core < 128 {
            if core < 64 { exclusiveCoreMaskLow |= 1 << UInt64(core) } else { exclusiveCoreMaskHigh |= 1 << UInt64(core - 64) }
        }
    }
}

/// The loop as a whole at the last tick.
public struct LoopView: Sendable, Equatable {
    public var ticks: UInt64 = 0
    public var missedTicks: UInt64 = 0
    public var tableGeneration: UInt64 = 0
    public var tenantCount: Int32 = 0
    public var solves: UInt64 = 0
    /// Solves by what triggered them (`SolveRecord.Cause`), and those whose applied allocation changed.
    public var solvesByCause = SolveCauseCounts()
    public var solvesChangingAllocation: UInt64 = 0
    public var solverIterationsTotal: UInt64 = 0
    public var solveFailures: UInt64 = 0
    public var enforceWrites: UInt64 = 0
    public var enforceFailures: UInt64 = 0
    public var droppedRecords: UInt64 = 0
    public var lastTickNanoseconds: UInt64 = 0
    public init() {}
}

/// Solves counted by cause: plain counters, so the tick counts them without allocating.
public struct SolveCauseCounts: Sendable, Equatable {
    public var everyTick: UInt64 = 0
    public var tableChanged: UInt64 = 0
    public var forecastMoved: UInt64 = 0
    public var objectiveMissed: UInt64 = 0
    public var shrinkHoldEnded: UInt64 = 0
    public var quotaSaturated: UInt64 = 0
    public init() {}

    mutating func count(_ cause: SolveRecord.Cause) {
        switch cause {
        case .everyTick: everyTick &+= 1
        case .tableChanged: tableChanged &+= 1
        case .forecastMoved: forecastMoved &+= 1
        case .objectiveMissed: objectiveMissed &+= 1
        case .shrinkHoldEnded: shrinkHoldEnded &+= 1
        case .quotaSaturated: quotaSaturated &+= 1
        }
    }

    /// Cause label and count, for metrics and status.
    public var byLabel: [(cause: String, count: UInt64)] {
        [("every_tick", everyTick), ("table_changed", tableChanged), ("forecast_moved", forecastMoved),
         ("objective_missed", objectiveMissed), ("shrink_hold_ended", shrinkHoldEnded),
         ("quota_saturated", quotaSaturated)]
    }
}

/// A single-writer, many-reader snapshot published without locks: a sequence lock over preallocated memory.
///
/// The tick thread bumps the sequence to odd, writes, bumps it to even; a reader copies and retries when the
/// sequence was odd or moved. The writer never waits; readers copy a few kilobytes.
public final class SnapshotBuffer: @unchecked Sendable {
    public let capacity: Int
    private let sequence = ManagedAtomic<UInt64>(0)
    private let tenants: UnsafeMutableBufferPointer<TenantView>
    private let loop: UnsafeMutablePointer<LoopView>

    public init(capacity: Int) {
        self.capacity = capacity
        tenants = .filled(capacity, with: TenantView())
        loop = .allocate(capacity: 1)
        loop.initialize(to: LoopView())
    }

    deinit {
        tenants.deallocate()
        loop.deallocate()
    }

    /// Writer: runs `body` on the shared memory between the two sequence bumps (tick thread only).
    @inline(__always)
    func write(_ body: (UnsafeMutableBufferPointer<TenantView>, UnsafeMutablePointer<LoopView>) -> Void) {
        sequence.wrappingIncrement(ordering: .relaxed)
        atomicMemoryFence(ordering: .releasing)
        body(tenants, loop)
        sequence.wrappingIncrement(ordering: .releasing)
    }

    /// Reader: a consistent copy of the loop view and the views of `slots`.
    public func read(slots: [Int]) -> (loop: LoopView, tenants: [TenantView]) {
        while true {
            let before = sequence.load(ordering: .acquiring)
            if before & 1 == 1 { continue }
            let loopCopy = loop.pointee
            let copies = slots.map { $0 >= 0 && $0 < capacity ? tenants[$0] : TenantView() }
            atomicMemoryFence(ordering: .acquiring)
            if sequence.load(ordering: .relaxed) == before { return (loopCopy, copies) }
        }
    }
}
