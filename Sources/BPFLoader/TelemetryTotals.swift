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
    // Computed from the C header's constants, so they fold into the code (a stored static is a lazy global).
    public static var slotCapacity: Int { Int(DPM_MAX_SLOTS) }
    public static var histogramBuckets: Int { Int(DPM_RUNQ_HIST_BUCKETS) }
    /// Slot of the cgroups no one watches.
    public static var otherSlot: Int { Int(DPM_OTHER_SLOT) }

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

    /// Runs `body` with the sums' storage: one uniqueness check per array for a whole drain, none per entry.
    mutating func withSums<Result>(_ body: (TelemetrySums) throws -> Result) rethrows -> Result {
        try slots.withUnsafeMutableBufferPointer { slots in
            try histograms.withUnsafeMutableBufferPointer { histograms in
                try body(TelemetrySums(slots: slots.baseAddress!, histograms: histograms.baseAddress!))
            }
        }
    }
}

/// The storage of a `TelemetryTotals` during one drain, valid only inside `withSums`.
struct TelemetrySums {
    let slots: UnsafeMutablePointer<SlotTelemetry>
    let histograms: UnsafeMutablePointer<UInt64>

    /// Adds what a slot counted on one CPU (a delta: the kernel hands each count out once) to its sums. Straight-line
    /// code on the tick; `slot` must be below `TelemetryTotals.slotCapacity`.
    func add(slot: Int, _ delta: UnsafePointer<dpm_slot_counters>) {
        let sum = slots + slot
        sum.pointee.cpuNanoseconds &+= delta.pointee.cpu_ns
        sum.pointee.runQueueWaitNanoseconds &+= delta.pointee.runq_wait_ns
        sum.pointee.rxBytes &+= delta.pointee.rx_bytes
        sum.pointee.txBytes &+= delta.pointee.tx_bytes
        sum.pointee.runQueueWaits &+= UInt64(delta.pointee.runq_waits)
        sum.pointee.voluntarySwitches &+= UInt64(delta.pointee.voluntary_switches)
        sum.pointee.involuntarySwitches &+= UInt64(delta.pointee.involuntary_switches)
        sum.pointee.pageFaults &+= UInt64(delta.pointee.page_faults)
        sum.pointee.rxPackets &+= UInt64(delta.pointee.rx_packets)
        sum.pointee.txPackets &+= UInt64(delta.pointee.tx_packets)
        // Only the buckets the kernel marked non-zero (mostly one or two of 32): the rest are never read.
        var nonZero = delta.pointee.runq_wait_hist_mask
        guard nonZero != 0 else { return }
        let buckets = (UnsafeRawPointer(delta) + RecordLayout.histogram).assumingMemoryBound(to: UInt32.self)
        let sums = histograms + slot * TelemetryTotals.histogramBuckets
        while nonZero != 0 {
            let bucket = nonZero.trailingZeroBitCount
            sums[bucket] &+= UInt64(buckets[bucket])
            nonZero &= nonZero - 1
        }
    }
}

/// Byte offsets in the kernel's flush records (`bpf/dpm_records.h`), as compile-time constants from the C shim.
private enum RecordLayout {
    static var header: Int { Int(DPM_FLUSH_RECORD_HEADER_BYTES) }
    static var entryCount: Int { Int(DPM_FLUSH_RECORD_ENTRIES_OFFSET) }
    static var flushedNanoseconds: Int { Int(DPM_FLUSH_RECORD_FLUSHED_NS_OFFSET) }
    static var entryStride: Int { Int(DPM_SLOT_ENTRY_BYTES) }
    static var counters: Int { Int(DPM_SLOT_ENTRY_COUNTERS_OFFSET) }
    static var histogram: Int { Int(DPM_SLOT_COUNTERS_HIST_OFFSET) }
}

/// Adds the kernel's flush records, read in place, to the totals. Records carry deltas, so all it keeps is when
/// each slot was last (re)assigned: records flushed before that belong to the slot's previous tenant.
final class RecordFolder {
    /// CLOCK_MONOTONIC ns when each slot started counting for its current tenant.
    private let watchedNanoseconds: UnsafeMutablePointer<UInt64>

    init() {
        watchedNanoseconds = .allocate(capacity: TelemetryTotals.slotCapacity)
        watchedNanoseconds.initialize(repeating: 0, count: TelemetryTotals.slotCapacity)
    }

    deinit {
        watchedNanoseconds.deallocate()
    }

    /// Adds one flush record (`bytes`, in the ring buffer: never copied) to `sums`; returns how many of its entries
    /// counted (entries flushed before their slot was assigned, or malformed, do not).
    func fold(_ bytes: UnsafeRawBufferPointer, into sums: TelemetrySums) -> Int {
        guard bytes.count >= RecordLayout.header, let base = bytes.baseAddress else { return 0 }
        let entries = Int(base.load(fromByteOffset: RecordLayout.entryCount, as: UInt32.self))
        let flushedNanoseconds = base.load(fromByteOffset: RecordLayout.flushedNanoseconds, as: UInt64.self)
        guard entries <= (bytes.count - RecordLayout.header) / RecordLayout.entryStride else { return 0 }
        var counted = 0
        var entry = base + RecordLayout.header
        for _ in 0..<entries {
            let slot = Int(entry.load(as: UInt32.self))
            if slot < TelemetryTotals.slotCapacity && flushedNanoseconds >= watchedNanoseconds[slot] {
                sums.add(slot: slot, (entry + RecordLayout.counters).assumingMemoryBound(to: dpm_slot_counters.self))
                counted += 1
            }
            entry += RecordLayout.entryStride
        }
        return counted
    }

    /// Counts `slot` only from records flushed at or after `nanoseconds` (CLOCK_MONOTONIC), when it got its tenant.
    func watch(slot: Int, since nanoseconds: UInt64) {
        watchedNanoseconds[slot] = nanoseconds
    }
}
