import CLibBPF
import Glibc

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
/// A value type: a copy shares the storage until one side changes it (then that side copies it, once).
public struct TelemetryTotals: Sendable {
    // Computed from the C header's constants, so they fold into the code (a stored static is a lazy global).
    public static var slotCapacity: Int { Int(DPM_MAX_SLOTS) }
    public static var histogramBuckets: Int { Int(DPM_RUNQ_HIST_BUCKETS) }
    /// Slot of the cgroups no one watches.
    public static var otherSlot: Int { Int(DPM_OTHER_SLOT) }

    private var storage = TelemetryStorage()

    public init() {}

    public subscript(slot: Int) -> SlotTelemetry {
        precondition(slot >= 0 && slot < Self.slotCapacity, "slot \(slot) out of 0..<\(Self.slotCapacity)")
        return storage.sums(slot: slot).pointee
    }

    /// The run-queue wait histogram of `slot`; bucket i counts waits in [2^i, 2^(i+1)) ns. It shares the totals'
    /// storage: let it go before changing the totals, or the change copies every slot.
    public func runQueueWaitHistogram(slot: Int) -> RunQueueWaitHistogram {
        precondition(slot >= 0 && slot < Self.slotCapacity, "slot \(slot) out of 0..<\(Self.slotCapacity)")
        return RunQueueWaitHistogram(storage: storage, slot: slot)
    }

    /// Zeroes every slot in place (no allocation).
    public mutating func reset() {
        makeUnique()
        for slot in 0..<Self.slotCapacity { storage.zero(slot: slot) }
    }

    public mutating func reset(slot: Int) {
        precondition(slot >= 0 && slot < Self.slotCapacity, "slot \(slot) out of 0..<\(Self.slotCapacity)")
        makeUnique()
        storage.zero(slot: slot)
    }

    /// Runs `body` with the sums' storage: one uniqueness check for a whole drain, none per entry.
    mutating func withSums<Result>(_ body: (TelemetrySums) throws -> Result) rethrows -> Result {
        makeUnique()
        return try body(TelemetrySums(base: storage.base))
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// One slot's run-queue wait histogram, read in place (inlined into the caller's loop: no call per bucket).
    public struct RunQueueWaitHistogram: RandomAccessCollection, @unchecked Sendable {
        /// Keeps the buckets alive and unchanged: while a view holds it, a change to the totals copies them.
        @usableFromInline let storage: TelemetryStorage
        @usableFromInline let buckets: UnsafePointer<UInt64>

        init(storage: TelemetryStorage, slot: Int) {
            self.storage = storage
            buckets = UnsafePointer(storage.histogram(slot: slot))
        }

        @inlinable public var startIndex: Int { 0 }
        @inlinable public var endIndex: Int { TelemetryTotals.histogramBuckets }

        @inlinable public subscript(bucket: Int) -> UInt64 {
            precondition(bucket >= 0 && bucket < endIndex, "bucket \(bucket) out of 0..<\(endIndex)")
            return withExtendedLifetime(storage) { buckets[bucket] }
        }
    }
}

/// Where a `TelemetryTotals` keeps its sums: one block per slot, 64-byte aligned. A block starts with the slot's
/// `SlotTelemetry` (the sums every entry adds to, its first 40 bytes, share the block's first cache line) and holds
/// the slot's histogram from byte `histogramOffset`, so a common entry touches two lines of one block. The blocks
/// sit in one 2 MiB-aligned region that asks for a transparent huge page (`MADV_HUGEPAGE`): the tenants that run
/// between two drains leave the drain's TLB cold, and the sums then cost one page walk, not one per 4 KiB page
/// (64 tenants: 7 pages before). Measured in one process, drains alternating between two storages: the huge page
/// is what lowers the drain (median -5 to -9 %, p99 lower in 3 of 3 runs); the block layout alone, without it, is
/// neither faster nor slower (Benchmarks/telemetry/results-2026-11-30.txt, section 3b.3).
@usableFromInline
final class TelemetryStorage: @unchecked Sendable {
    static var blockBytes: Int { 384 }
    static var histogramOffset: Int { 128 }
    static var regionBytes: Int { 2 << 20 }

    /// Start of the region: `regionBytes`, 2 MiB-aligned, mapped private and anonymous.
    let base: UnsafeMutableRawPointer

    init() {
        base = Self.mapRegion()
        for slot in 0..<TelemetryTotals.slotCapacity {
            (base + slot * Self.blockBytes).initializeMemory(as: SlotTelemetry.self, repeating: SlotTelemetry(), count: 1)
            (base + slot * Self.blockBytes + Self.histogramOffset)
                .initializeMemory(as: UInt64.self, repeating: 0, count: TelemetryTotals.histogramBuckets)
        }
    }

    deinit {
        munmap(base, Self.regionBytes)
    }

    /// A second storage holding the same sums.
    func copy() -> TelemetryStorage {
        let copy = TelemetryStorage()
        copy.base.copyMemory(from: base, byteCount: TelemetryTotals.slotCapacity * Self.blockBytes)
        return copy
    }

    func sums(slot: Int) -> UnsafeMutablePointer<SlotTelemetry> {
        (base + slot * Self.blockBytes).assumingMemoryBound(to: SlotTelemetry.self)
    }

    func histogram(slot: Int) -> UnsafeMutablePointer<UInt64> {
        (base + slot * Self.blockBytes + Self.histogramOffset).assumingMemoryBound(to: UInt64.self)
    }

    func zero(slot: Int) {
        sums(slot: slot).pointee = SlotTelemetry()
        histogram(slot: slot).update(repeating: 0, count: TelemetryTotals.histogramBuckets)
    }

    /// Maps twice the region's size and keeps the 2 MiB-aligned part (a huge page needs an aligned range).
    private static func mapRegion() -> UnsafeMutableRawPointer {
        let mapped = mmap(nil, 2 * regionBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let mapped, mapped != MAP_FAILED else {
            fatalError("TelemetryTotals: mmap of \(2 * regionBytes) bytes failed: \(BPFError.text(errno))")
        }
        let offset = (regionBytes - Int(bitPattern: mapped) % regionBytes) % regionBytes
        if offset > 0 { munmap(mapped, offset) }
        munmap(mapped + offset + regionBytes, regionBytes - offset)
        let region = mapped + offset
        // Only a hint: without transparent huge pages the region stays in 4 KiB pages and works the same.
        _ = madvise(region, regionBytes, MADV_HUGEPAGE)
        return region
    }
}

/// The storage of a `TelemetryTotals` during one drain, valid only inside `withSums`.
struct TelemetrySums {
    /// `TelemetryStorage.base`: slot blocks of `TelemetryStorage.blockBytes`.
    let base: UnsafeMutableRawPointer

    /// Adds one flush-record entry (what a slot counted on one CPU: a delta, the kernel hands each count out once)
    /// to its slot's sums; returns where the entry ends. Straight-line code on the tick: the optional parts and the
    /// non-zero wait buckets that follow the fixed part are read only when the entry says they are there. `slot`
    /// must be below `TelemetryTotals.slotCapacity`, and all `dpm_slot_entry_bytes` of the entry inside the record.
    ///
    /// About a third of a drain is instructions (the rest mostly moving the records from the CPU that wrote them;
    /// the sums stay cached, and mispredicted branches are rare), so the common entry takes the shortest path:
    /// wrapping arithmetic throughout (no overflow traps), one test for all optional parts (most entries carry
    /// none), the wait buckets walked by pointer, run-queue waits summed from them. callgrind: 55 instructions an
    /// entry, ~30 record bytes (Benchmarks/telemetry/results-2026-11-30.txt).
    @inline(__always)
    func add(slot: Int, _ entry: UnsafePointer<dpm_slot_entry>) -> UnsafeRawPointer {
        let block = base + slot &* TelemetryStorage.blockBytes
        let sum = block.assumingMemoryBound(to: SlotTelemetry.self)
        // A split value is low + high << width, so the low bits add here and the rare high bits below.
        sum.pointee.cpuNanoseconds &+= UInt64(entry.pointee.cpu_ns)
        sum.pointee.runQueueWaitNanoseconds &+= UInt64(entry.pointee.runq_wait_ns)
        sum.pointee.voluntarySwitches &+= UInt64(entry.pointee.voluntary_switches)
        sum.pointee.involuntarySwitches &+= UInt64(entry.pointee.involuntary_switches)
        var tail = UnsafeRawPointer(entry + 1)
        let parts = UInt32(entry.pointee.parts)
        if parts != 0 {
            if parts & DPM_ENTRY_WIDE != 0 {
                let wide = tail.assumingMemoryBound(to: dpm_entry_wide.self)
                sum.pointee.cpuNanoseconds &+= UInt64(wide.pointee.cpu_ns) &<< 32
                sum.pointee.runQueueWaitNanoseconds &+= UInt64(wide.pointee.runq_wait_ns) &<< 32
                sum.pointee.voluntarySwitches &+= UInt64(wide.pointee.voluntary_switches) &<< 16
                sum.pointee.involuntarySwitches &+= UInt64(wide.pointee.involuntary_switches) &<< 16
                sum.pointee.rxBytes &+= UInt64(wide.pointee.rx_bytes) &<< 32
                sum.pointee.txBytes &+= UInt64(wide.pointee.tx_bytes) &<< 32
                tail += MemoryLayout<dpm_entry_wide>.size
            }
            if parts & DPM_ENTRY_PAGE_FAULTS != 0 {
                let faults = tail.assumingMemoryBound(to: dpm_entry_page_faults.self)
                sum.pointee.pageFaults &+= UInt64(faults.pointee.page_faults)
                tail += MemoryLayout<dpm_entry_page_faults>.size
            }
            if parts & DPM_ENTRY_NETWORK != 0 {
                let network = tail.assumingMemoryBound(to: dpm_entry_network.self)
                sum.pointee.rxBytes &+= UInt64(network.pointee.rx_bytes)
                sum.pointee.txBytes &+= UInt64(network.pointee.tx_bytes)
                sum.pointee.rxPackets &+= UInt64(network.pointee.rx_packets)
                sum.pointee.txPackets &+= UInt64(network.pointee.tx_packets)
                tail += MemoryLayout<dpm_entry_network>.size
            }
        }
        // The counts of the buckets the kernel marked non-zero (mostly one or two of 32), lowest bucket first; their
        // sum is the entry's number of waits.
        var nonZero = entry.pointee.runq_wait_hist_mask
        let sums = (block + TelemetryStorage.histogramOffset).assumingMemoryBound(to: UInt64.self)
        var count = tail.assumingMemoryBound(to: UInt32.self)
        while nonZero != 0 {
            let bucketCount = UInt64(count.pointee)
            sums[nonZero.trailingZeroBitCount] &+= bucketCount
            sum.pointee.runQueueWaits &+= bucketCount
            nonZero &= nonZero &- 1
            count += 1
        }
        return UnsafeRawPointer(count)
    }
}

/// Adds the kernel's flush records, read in place, to the totals. Records carry deltas, so all it keeps is when
/// each slot was last (re)assigned: records flushed before that belong to the slot's previous tenant.
final class RecordFolder {
    /// CLOCK_MONOTONIC ns when each slot started counting for its current tenant.
    private let watchedNanoseconds: UnsafeMutablePointer<UInt64>
    /// The latest of `watchedNanoseconds`: a record flushed at or after it (almost all) counts whole, so its entries
    /// skip their slot's check (a load from another cache line each, and a compare).
    private var latestWatchedNanoseconds: UInt64 = 0

    init() {
        watchedNanoseconds = .allocate(capacity: TelemetryTotals.slotCapacity)
        watchedNanoseconds.initialize(repeating: 0, count: TelemetryTotals.slotCapacity)
    }

    deinit {
        watchedNanoseconds.deallocate()
    }

    /// Adds one flush record (`bytes`, in the ring buffer: never copied) to `sums`; returns how many of its entries
    /// counted (entries flushed before their slot was assigned do not; a malformed record stops at its first entry
    /// that does not fit).
    func fold(_ bytes: UnsafeRawBufferPointer, into sums: TelemetrySums) -> Int {
        let headerBytes = MemoryLayout<dpm_flush_record>.size
        // The header and entries are read in place as C structs: 8-byte aligned, as ring records are.
        guard bytes.count >= headerBytes, let base = bytes.baseAddress,
              Int(bitPattern: base) & (MemoryLayout<dpm_flush_record>.alignment - 1) == 0 else { return 0 }
        let header = base.assumingMemoryBound(to: dpm_flush_record.self)
        let flushedNanoseconds = header.pointee.flushed_ns
        let checksWatches = flushedNanoseconds < latestWatchedNanoseconds
        // An entry followed by at least a largest entry's bytes fits whatever it says, and the kernel reserves that
        // much after its last entry: only entries closer to the end (of other bytes) need their exact size checked.
        let end = base + bytes.count
        let checkedFrom = end - min(bytes.count, Int(DPM_SLOT_ENTRY_LARGEST_BYTES))
        var entry = base + headerBytes
        var counted = 0
        var remaining = header.pointee.entries
        while remaining != 0 {
            remaining &-= 1
            let fixed = entry.assumingMemoryBound(to: dpm_slot_entry.self)
            if entry > checkedFrom {
                let room = end - entry
                guard room >= MemoryLayout<dpm_slot_entry>.size, room >= Self.bytes(of: fixed) else { break }
            }
            let slot = Int(fixed.pointee.slot)
            guard slot < TelemetryTotals.slotCapacity else { break }
            if checksWatches && flushedNanoseconds < watchedNanoseconds[slot] {
                entry += Self.bytes(of: fixed)
            } else {
                entry = sums.add(slot: slot, fixed)
                counted &+= 1
            }
        }
        return counted
    }

    private static func bytes(of entry: UnsafePointer<dpm_slot_entry>) -> Int {
        Int(dpm_slot_entry_bytes(UInt32(entry.pointee.parts), entry.pointee.runq_wait_hist_mask))
    }

    /// Counts `slot` only from records flushed at or after `nanoseconds` (CLOCK_MONOTONIC), when it got its tenant.
    func watch(slot: Int, since nanoseconds: UInt64) {
        watchedNanoseconds[slot] = nanoseconds
        latestWatchedNanoseconds = max(latestWatchedNanoseconds, nanoseconds)
    }
}
