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
    /// cumulative in the kernel and 32-bit ones wrap, so the difference wraps too. Runs per record on the tick:
    /// one uniqueness check per array, then plain pointer arithmetic.
    mutating func add(slot: Int, current: UnsafePointer<dpm_slot_counters>,
                      previous: UnsafePointer<dpm_slot_counters>) {
        slots.withUnsafeMutableBufferPointer { slots in
            let sum = slots.baseAddress! + slot
            sum.pointee.cpuNanoseconds &+= current.pointee.cpu_ns &- previous.pointee.cpu_ns
            sum.pointee.runQueueWaitNanoseconds &+= current.pointee.runq_wait_ns &- previous.pointee.runq_wait_ns
            sum.pointee.rxBytes &+= current.pointee.rx_bytes &- previous.pointee.rx_bytes
            sum.pointee.txBytes &+= current.pointee.tx_bytes &- previous.pointee.tx_bytes
            sum.pointee.runQueueWaits &+= UInt64(current.pointee.runq_waits &- previous.pointee.runq_waits)
            sum.pointee.voluntarySwitches &+= UInt64(current.pointee.voluntary_switches &- previous.pointee.voluntary_switches)
            sum.pointee.involuntarySwitches &+= UInt64(current.pointee.involuntary_switches &- previous.pointee.involuntary_switches)
            sum.pointee.pageFaults &+= UInt64(current.pointee.page_faults &- previous.pointee.page_faults)
            sum.pointee.rxPackets &+= UInt64(current.pointee.rx_packets &- previous.pointee.rx_packets)
            sum.pointee.txPackets &+= UInt64(current.pointee.tx_packets &- previous.pointee.tx_packets)
        }
        // No new waits, no histogram change: skip its two cache lines.
        guard current.pointee.runq_waits != previous.pointee.runq_waits else { return }
        histograms.withUnsafeMutableBufferPointer { histograms in
            let sums = histograms.baseAddress! + slot * Self.histogramBuckets
            withUnsafeBytes(of: current.pointee.runq_wait_hist) { currentBuckets in
                withUnsafeBytes(of: previous.pointee.runq_wait_hist) { previousBuckets in
                    let now = currentBuckets.assumingMemoryBound(to: UInt32.self)
                    let before = previousBuckets.assumingMemoryBound(to: UInt32.self)
                    for bucket in 0..<Self.histogramBuckets { sums[bucket] &+= UInt64(now[bucket] &- before[bucket]) }
                }
            }
        }
    }
}

/// Turns the kernel's cumulative per-(CPU, slot) records into deltas: remembers the last record of each pair in
/// storage allocated once.
final class RecordFolder {
    let cpuCount: Int
    private let previous: UnsafeMutablePointer<dpm_slot_counters>
    /// `flushed_ns` of the last record used per pair; older records (flushed before a baseline) are ignored.
    private let previousFlushedNanoseconds: UnsafeMutablePointer<UInt64>

    init(cpuCount: Int) {
        self.cpuCount = cpuCount
        let pairs = cpuCount * TelemetryTotals.slotCapacity
        previous = .allocate(capacity: pairs)
        previous.initialize(repeating: dpm_slot_counters(), count: pairs)
        previousFlushedNanoseconds = .allocate(capacity: pairs)
        previousFlushedNanoseconds.initialize(repeating: 0, count: pairs)
    }

    deinit {
        previous.deallocate()
        previousFlushedNanoseconds.deallocate()
    }

    /// Folds one flush record (`bytes`, in the ring buffer: read in place, never copied) into `totals`; returns how
    /// many of its entries counted (entries older than their slot's baseline, or malformed, do not).
    func fold(_ bytes: UnsafeRawBufferPointer, into totals: inout TelemetryTotals) -> Int {
        let header = MemoryLayout<dpm_flush_record>.offset(of: \.entry)!
        let stride = MemoryLayout<dpm_slot_entry>.stride
        let counterOffset = MemoryLayout<dpm_slot_entry>.offset(of: \.counters)!
        guard bytes.count >= header, let base = bytes.baseAddress else { return 0 }
        let cpu = Int(base.load(fromByteOffset: MemoryLayout<dpm_flush_record>.offset(of: \.cpu)!, as: UInt32.self))
        let entries = Int(base.load(fromByteOffset: MemoryLayout<dpm_flush_record>.offset(of: \.entries)!, as: UInt32.self))
        let flushedNanoseconds = base.load(fromByteOffset: MemoryLayout<dpm_flush_record>.offset(of: \.flushed_ns)!,
                                           as: UInt64.self)
        guard cpu < cpuCount, header + entries * stride <= bytes.count else { return 0 }
        var counted = 0
        for entry in 0..<entries {
            let entryAddress = base + header + entry * stride
            let slot = Int(entryAddress.load(as: UInt32.self))
            guard slot < TelemetryTotals.slotCapacity else { continue }
            let index = cpu * TelemetryTotals.slotCapacity + slot
            guard flushedNanoseconds >= previousFlushedNanoseconds[index] else { continue }
            let counters = (entryAddress + counterOffset).assumingMemoryBound(to: dpm_slot_counters.self)
            totals.add(slot: slot, current: counters, previous: previous + index)
            (previous + index).update(from: counters, count: 1)
            previousFlushedNanoseconds[index] = flushedNanoseconds
            counted += 1
        }
        return counted
    }

    /// Starts counting `slot` from the given per-CPU cumulative values read at `nanoseconds` (CLOCK_MONOTONIC).
    func setBaseline(slot: Int, perCPU counters: [dpm_slot_counters], at nanoseconds: UInt64) {
        for (cpu, value) in counters.enumerated() where cpu < cpuCount {
            previous[cpu * TelemetryTotals.slotCapacity + slot] = value
            previousFlushedNanoseconds[cpu * TelemetryTotals.slotCapacity + slot] = nanoseconds
        }
    }
}
