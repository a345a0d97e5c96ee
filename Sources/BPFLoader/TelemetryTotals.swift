import CLibBPF

/// What one tenant slot did over a span of time (sums of per-CPU deltas).
public struct SlotTelemetry: Sendable, Equatable {
    public var cpuNanoseconds: UInt64 = 0
    public var runQueueWaitNanoseconds: UInt64 = 0
    public var runQueueWaits: UInt64 = 0
    public var voluntarySwitches: UInt64 = 0
    public var involuntarySwitches: UInt64 = 0
    /// User page faults; this kernel's `page_fault_user` tracepoint does not tell major from minor.
    public var pageFaults: UInt64 = 0
    public var rxBytes: UInt64 = 0
    public var txBytes: UInt64 = 0
    public var rxPackets: UInt64 = 0
    public var txPackets: UInt64 = 0

    public init() {}

    public var contextSwitches: UInt64 { voluntarySwitches + involuntarySwitches }
}

/// Per-slot sums that `TelemetryProbes.drain(into:)` adds to: preallocated for every slot, updated in place.
public struct TelemetryTotals: Sendable {
    public static let slotCapacity = Int(DPM_MAX_SLOTS)
    public static let histogramBuckets = Int(DPM_RUNQ_HIST_BUCKETS)
    /// Slot of the cgroups no one watches.
    public static let otherSlot = Int(DPM_OTHER_SLOT)

    private var slots: [SlotTelemetry]
    /// Run-queue wait histograms, `histogramBuckets` per slot; bucket i counts waits in [2^i, 2^(i+1)) ns.
    private var histograms: [UInt64]

    public init() {
        slots = Array(repeating: SlotTelemetry(), count: Self.slotCapacity)
        histograms = Array(repeating: 0, count: Self.slotCapacity * Self.histogramBuckets)
    }

    public subscript(slot: Int) -> SlotTelemetry { slots[slot] }

    /// The run-queue wait histogram of `slot`.
    public func runQueueWaitHistogram(slot: Int) -> ArraySlice<UInt64> {
        histograms[slot * Self.histogramBuckets..<(slot + 1) * Self.histogramBuckets]
    }

    /// Zeroes every slot in place (no allocation).
    public mutating func reset() {
        for slot in slots.indices { reset(slot: slot) }
    }

    public mutating func reset(slot: Int) {
        slots[slot] = SlotTelemetry()
        for bucket in 0..<Self.histogramBuckets { histograms[slot * Self.histogramBuckets + bucket] = 0 }
    }

    /// Adds the difference `current - previous` of two cumulative records of one slot on one CPU. Counts are
    /// cumulative in the kernel and 32-bit ones wrap, so the difference wraps too.
    mutating func add(slot: Int, current: dpm_slot_counters, previous: dpm_slot_counters) {
        slots[slot].cpuNanoseconds &+= current.cpu_ns &- previous.cpu_ns
        slots[slot].runQueueWaitNanoseconds &+= current.runq_wait_ns &- previous.runq_wait_ns
        slots[slot].rxBytes &+= current.rx_bytes &- previous.rx_bytes
        slots[slot].txBytes &+= current.tx_bytes &- previous.tx_bytes
        slots[slot].runQueueWaits &+= UInt64(current.runq_waits &- previous.runq_waits)
        slots[slot].voluntarySwitches &+= UInt64(current.voluntary_switches &- previous.voluntary_switches)
        slots[slot].involuntarySwitches &+= UInt64(current.involuntary_switches &- previous.involuntary_switches)
        slots[slot].pageFaults &+= UInt64(current.page_faults &- previous.page_faults)
        slots[slot].rxPackets &+= UInt64(current.rx_packets &- previous.rx_packets)
        slots[slot].txPackets &+= UInt64(current.tx_packets &- previous.tx_packets)
        withUnsafeBytes(of: current.runq_wait_hist) { currentBuckets in
            withUnsafeBytes(of: previous.runq_wait_hist) { previousBuckets in
                let base = slot * Self.histogramBuckets
                for bucket in 0..<Self.histogramBuckets {
                    let offset = bucket * MemoryLayout<UInt32>.stride
                    let delta = currentBuckets.load(fromByteOffset: offset, as: UInt32.self)
                        &- previousBuckets.load(fromByteOffset: offset, as: UInt32.self)
                    histograms[base + bucket] &+= UInt64(delta)
                }
            }
        }
    }
}

/// Turns the kernel's cumulative per-(CPU, slot) records into deltas: remembers the last record of each pair.
struct RecordFolder {
    let cpuCount: Int
    private var previous: [dpm_slot_counters]
    /// `flushed_ns` of the last record used per pair; older records (flushed before a baseline) are ignored.
    private var previousFlushedNanoseconds: [UInt64]

    init(cpuCount: Int) {
        self.cpuCount = cpuCount
        previous = Array(repeating: dpm_slot_counters(), count: cpuCount * TelemetryTotals.slotCapacity)
        previousFlushedNanoseconds = Array(repeating: 0, count: cpuCount * TelemetryTotals.slotCapacity)
    }

    /// Folds one record into `totals`; returns false for a record that is malformed or older than the baseline.
    mutating func fold(_ record: dpm_slot_record, into totals: inout TelemetryTotals) -> Bool {
        let cpu = Int(record.cpu)
        let slot = Int(record.slot)
        guard cpu < cpuCount, slot < TelemetryTotals.slotCapacity else { return false }
        let index = cpu * TelemetryTotals.slotCapacity + slot
        guard record.flushed_ns >= previousFlushedNanoseconds[index] else { return false }
        totals.add(slot: slot, current: record.counters, previous: previous[index])
        previous[index] = record.counters
        previousFlushedNanoseconds[index] = record.flushed_ns
        return true
    }

    /// Starts counting `slot` from the given per-CPU cumulative values read at `nanoseconds` (CLOCK_MONOTONIC).
    mutating func setBaseline(slot: Int, perCPU counters: [dpm_slot_counters], at nanoseconds: UInt64) {
        for (cpu, value) in counters.enumerated() where cpu < cpuCount {
            previous[cpu * TelemetryTotals.slotCapacity + slot] = value
            previousFlushedNanoseconds[cpu * TelemetryTotals.slotCapacity + slot] = nanoseconds
        }
    }
}
