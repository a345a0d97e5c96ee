@testable import BPFLoader
import CLibBPF
import Testing

/// The fold of the kernel's flush records (per-CPU deltas) into per-slot totals, without a kernel.
@Suite struct RecordFolderTests {
    private func counters(cpuNanoseconds: UInt64 = 0, faults: UInt32 = 0, waitBucket: Int? = nil,
                          waits: UInt32 = 0) -> dpm_slot_counters {
        var counters = dpm_slot_counters()
        counters.cpu_ns = cpuNanoseconds
        counters.page_faults = faults
        if let waitBucket {
            withUnsafeMutableBytes(of: &counters.runq_wait_hist) {
                $0.storeBytes(of: waits, toByteOffset: waitBucket * 4, as: UInt32.self)
            }
            counters.runq_wait_hist_mask = 1 << waitBucket
        }
        return counters
    }

    /// A flush record laid out as the kernel writes it into the ring, word by word: header, then each slot's
    /// variable-length entry (the fixed part with the low bits of its values, the high bits when a value does not
    /// fit them, the non-zero optional parts, the non-zero wait buckets), then `slack` unused bytes.
    private func record(cpu: UInt32, at flushed: UInt64, _ entries: [(slot: UInt32, counters: dpm_slot_counters)],
                        slack: Int = 0) -> [UInt8]
    {
        var bytes: [UInt8] = []
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        append(cpu)
        append(UInt32(entries.count))
        append(flushed)
        for (slot, counters) in entries {
            let start = bytes.count
            let wide = (counters.cpu_ns | counters.runq_wait_ns | counters.rx_bytes | counters.tx_bytes) >> 32 != 0
                || (counters.voluntary_switches | counters.involuntary_switches) >> 16 != 0
            let network = counters.rx_bytes | counters.tx_bytes != 0 || counters.rx_packets | counters.tx_packets != 0
            let parts = (wide ? 1 : 0) | (counters.page_faults != 0 ? 2 : 0) | (network ? 4 : 0)
            append(UInt16(slot))
            append(UInt16(parts))
            append(counters.runq_wait_hist_mask)
            append(UInt32(truncatingIfNeeded: counters.cpu_ns))
            append(UInt32(truncatingIfNeeded: counters.runq_wait_ns))
            append(UInt16(truncatingIfNeeded: counters.voluntary_switches))
            append(UInt16(truncatingIfNeeded: counters.involuntary_switches))
            if wide {
                append(UInt32(counters.cpu_ns >> 32))
                append(UInt32(counters.runq_wait_ns >> 32))
                append(UInt32(counters.rx_bytes >> 32))
                append(UInt32(counters.tx_bytes >> 32))
                append(UInt16(counters.voluntary_switches >> 16))
                append(UInt16(counters.involuntary_switches >> 16))
            }
            if counters.page_faults != 0 { append(counters.page_faults) }
            if network {
                append(UInt32(truncatingIfNeeded: counters.rx_bytes))
                append(UInt32(truncatingIfNeeded: counters.tx_bytes))
                append(counters.rx_packets)
                append(counters.tx_packets)
            }
            withUnsafeBytes(of: counters.runq_wait_hist) { buckets in
                for bucket in 0..<32 where counters.runq_wait_hist_mask & (1 << bucket) != 0 {
                    append(buckets.load(fromByteOffset: bucket * 4, as: UInt32.self))
                }
            }
            #expect(bytes.count - start == Int(dpm_slot_entry_bytes(UInt32(parts), counters.runq_wait_hist_mask)))
        }
        return bytes + [UInt8](repeating: 0xee, count: slack)
    }

    private func fold(_ folder: RecordFolder, _ bytes: [UInt8], into totals: inout TelemetryTotals) -> Int {
        totals.withSums { sums in bytes.withUnsafeBytes { folder.fold($0, into: sums) } }
    }

    @Test func addsDeltasAcrossCPUsAndSlots() {
        let folder = RecordFolder()
        var totals = TelemetryTotals()
        #expect(fold(folder, record(cpu: 0, at: 10, [(3, counters(cpuNanoseconds: 100, faults: 5)),
                                                      (4, counters(cpuNanoseconds: 7))]), into: &totals) == 2)
        #expect(fold(folder, record(cpu: 1, at: 11, [(3, counters(cpuNanoseconds: 40, faults: 1))]), into: &totals) == 1)
        #expect(fold(folder, record(cpu: 0, at: 20, [(3, counters(cpuNanoseconds: 150, faults: 2))]), into: &totals) == 1)
        #expect(totals[3].cpuNanoseconds == 290)
        #expect(totals[3].pageFaults == 8)
        #expect(totals[4].cpuNanoseconds == 7)
        #expect(totals[5] == SlotTelemetry())
    }

    @Test func histogramBucketsAdd() {
        let folder = RecordFolder()
        var totals = TelemetryTotals()
        _ = fold(folder, record(cpu: 0, at: 1, [(2, counters(waitBucket: 12, waits: 4))]), into: &totals)
        _ = fold(folder, record(cpu: 1, at: 2, [(2, counters(waitBucket: 12, waits: 5))]), into: &totals)
        _ = fold(folder, record(cpu: 0, at: 3, [(2, counters(waitBucket: 3, waits: 1))]), into: &totals)
        let histogram = totals.runQueueWaitHistogram(slot: 2)
        #expect(histogram[histogram.startIndex + 12] == 9)
        #expect(histogram[histogram.startIndex + 3] == 1)
        #expect(totals[2].runQueueWaits == 10)
        #expect(histogram.reduce(0, +) == 10)
    }

    @Test func variableLengthEntriesCarryOnlyTheirNonZeroParts() {
        var busy = counters(cpuNanoseconds: 5, faults: 2)
        (busy.rx_bytes, busy.rx_packets, busy.tx_bytes, busy.tx_packets) = (1500, 1, 60, 2)
        let buckets: [(bucket: Int, count: UInt32)] = [(3, 1), (10, 2), (31, 4)]
        withUnsafeMutableBytes(of: &busy.runq_wait_hist) { histogram in
            for (bucket, count) in buckets { histogram.storeBytes(of: count, toByteOffset: bucket * 4, as: UInt32.self) }
        }
        busy.runq_wait_hist_mask = buckets.reduce(0) { $0 | 1 << $1.bucket }
        let folder = RecordFolder()
        var totals = TelemetryTotals()
        let bytes = record(cpu: 1, at: 5, [(1, busy), (2, counters(cpuNanoseconds: 9, waitBucket: 0, waits: 1)),
                                           (3, counters(cpuNanoseconds: 11))], slack: 200)
        #expect(fold(folder, bytes, into: &totals) == 3)
        #expect(totals[1].cpuNanoseconds == 5 && totals[1].pageFaults == 2 && totals[1].runQueueWaits == 7)
        #expect(totals[1].rxBytes == 1500 && totals[1].rxPackets == 1 && totals[1].txBytes == 60 && totals[1].txPackets == 2)
        let histogram = Array(totals.runQueueWaitHistogram(slot: 1))
        #expect(histogram[3] == 1 && histogram[10] == 2 && histogram[31] == 4 && histogram.reduce(0, +) == 7)
        #expect(totals[2].cpuNanoseconds == 9 && totals[2].runQueueWaits == 1 && totals[2].pageFaults == 0)
        #expect(totals.runQueueWaitHistogram(slot: 2).first == 1)
        #expect(totals[3].cpuNanoseconds == 11 && totals.runQueueWaitHistogram(slot: 3).reduce(0, +) == 0)
    }

    /// Every field of an entry set, every split value wider than its low part, and all 32 wait buckets: the
    /// largest entry there is, decoded once at the end of its bytes (exact size checked) and once with a largest
    /// entry's room after it (the kernel's case).
    @Test(arguments: [0, 200]) func decodesALargestEntryWithEveryFieldAndBucketSet(slack: Int) {
        var full = dpm_slot_counters()
        (full.cpu_ns, full.runq_wait_ns) = (0x1_0000_0001, 0x2_0000_0002)
        (full.rx_bytes, full.tx_bytes) = (0x3_0000_0003, 0xffff_ffff_ffff_ffff)
        (full.voluntary_switches, full.involuntary_switches) = (0x5_0006, 0xffff_ffff)
        (full.page_faults, full.rx_packets, full.tx_packets) = (8, 9, 10)
        withUnsafeMutableBytes(of: &full.runq_wait_hist) { histogram in
            for bucket in 0..<32 { histogram.storeBytes(of: UInt32(100 + bucket), toByteOffset: bucket * 4, as: UInt32.self) }
        }
        full.runq_wait_hist_mask = .max
        let bytes = record(cpu: 1, at: 7, [(4, full), (5, counters(cpuNanoseconds: 3, waitBucket: 31, waits: 2))],
                           slack: slack)
        let folder = RecordFolder()
        var totals = TelemetryTotals()
        #expect(Int(DPM_SLOT_ENTRY_LARGEST_BYTES) == Int(dpm_slot_entry_bytes(UInt32(DPM_ENTRY_WIDE
            | DPM_ENTRY_PAGE_FAULTS | DPM_ENTRY_NETWORK), .max)))
        #expect(fold(folder, bytes, into: &totals) == 2)
        var expected = SlotTelemetry()
        (expected.cpuNanoseconds, expected.runQueueWaitNanoseconds) = (0x1_0000_0001, 0x2_0000_0002)
        // The waits are the buckets' sum: 100 + 101 + … + 131.
        (expected.runQueueWaits, expected.voluntarySwitches, expected.involuntarySwitches) = (3696, 0x5_0006, 0xffff_ffff)
        (expected.pageFaults, expected.rxBytes, expected.txBytes, expected.rxPackets, expected.txPackets) =
            (8, 0x3_0000_0003, 0xffff_ffff_ffff_ffff, 9, 10)
        #expect(totals[4] == expected)
        #expect(Array(totals.runQueueWaitHistogram(slot: 4)) == (0..<32).map { UInt64(100 + $0) })
        #expect(totals[5].cpuNanoseconds == 3 && totals[5].runQueueWaits == 2)
        #expect(Array(totals.runQueueWaitHistogram(slot: 5)) == Array(repeating: 0, count: 31) + [2])
        // One byte short of the second entry: the first still counts, the second does not.
        #expect(fold(folder, Array(bytes.dropLast(slack + 1)), into: &totals) == 1)
        #expect(totals[4].cpuNanoseconds == 0x2_0000_0002 && totals[5].cpuNanoseconds == 3)
    }

    /// Values on either side of the 32 bits of their low part in the entry: below them the entry is the short one,
    /// above them it carries the high bits, and either way the sums are exact (also across a second record).
    @Test(arguments: [(UInt64(1) << 32) - 1, UInt64(1) << 32, (UInt64(1) << 32) + 1, UInt64(1) << 63 | 5])
    func wideValuesRoundTripAcrossThe32BitBoundary(value: UInt64) {
        var large = dpm_slot_counters()
        (large.cpu_ns, large.runq_wait_ns, large.rx_bytes, large.tx_bytes, large.rx_packets) =
            (value, value - 1, value, value - 1, 1)
        let bytes = record(cpu: 0, at: 3, [(7, large), (8, counters(cpuNanoseconds: 9))])
        let headerBytes = 16, shortEntryBytes = 20, wideBytes = 20, networkBytes = 16
        #expect(bytes.count == headerBytes + shortEntryBytes + (value >> 32 != 0 ? wideBytes : 0) + networkBytes
            + shortEntryBytes)
        let folder = RecordFolder()
        var totals = TelemetryTotals()
        for times: UInt64 in 1...2 {
            #expect(fold(folder, bytes, into: &totals) == 2)
            #expect(totals[7].cpuNanoseconds == value &* times && totals[7].runQueueWaitNanoseconds == (value - 1) &* times)
            #expect(totals[7].rxBytes == value &* times && totals[7].txBytes == (value - 1) &* times)
            #expect(totals[7].rxPackets == times && totals[8].cpuNanoseconds == 9 * times)
        }
    }

    /// Switch counts on either side of the 16 bits of their low part in the entry.
    @Test(arguments: [UInt32(0xffff), 0x1_0000, 0x1_0001, 0xffff_ffff])
    func switchCountsRoundTripAcrossThe16BitBoundary(switches: UInt32) {
        var many = counters(cpuNanoseconds: 1)
        (many.voluntary_switches, many.involuntary_switches) = (switches, switches - 1)
        let bytes = record(cpu: 1, at: 3, [(2, many)])
        #expect(bytes.count == 16 + 20 + (switches > 0xffff ? 20 : 0))
        let folder = RecordFolder()
        var totals = TelemetryTotals()
        #expect(fold(folder, bytes, into: &totals) == 1)
        #expect(totals[2].voluntarySwitches == UInt64(switches) && totals[2].involuntarySwitches == UInt64(switches - 1))
        #expect(totals[2].contextSwitches == 2 * UInt64(switches) - 1 && totals[2].cpuNanoseconds == 1)
    }

    @Test func recordsFlushedBeforeASlotGotItsTenantAreIgnored() {
        let folder = RecordFolder()
        var totals = TelemetryTotals()
        folder.watch(slot: 5, since: 50)
        #expect(fold(folder, record(cpu: 0, at: 40, [(5, counters(cpuNanoseconds: 900)),
                                                      (6, counters(cpuNanoseconds: 20))]), into: &totals) == 1)
        #expect(fold(folder, record(cpu: 0, at: 60, [(5, counters(cpuNanoseconds: 300))]), into: &totals) == 1)
        #expect(totals[5].cpuNanoseconds == 300)
        #expect(totals[6].cpuNanoseconds == 20)
    }

    @Test func malformedRecordsAreRejected() {
        let folder = RecordFolder()
        var totals = TelemetryTotals()
        #expect(fold(folder, record(cpu: 0, at: 1, [(9999, counters(faults: 1))]), into: &totals) == 0)
        #expect(fold(folder, Array(record(cpu: 0, at: 1, [(1, counters(faults: 1))]).dropLast(8)), into: &totals) == 0)
        #expect(fold(folder, [1, 2, 3], into: &totals) == 0)
        // Not 8-byte aligned (ring records always are): refused rather than read as misaligned C structs.
        let shifted = [0, 0, 0, 0] + record(cpu: 0, at: 1, [(1, counters(faults: 1))])
        #expect(totals.withSums { sums in
            shifted.withUnsafeBytes { folder.fold(UnsafeRawBufferPointer(rebasing: $0[4...]), into: sums) }
        } == 0)
        #expect(totals[1] == SlotTelemetry())
    }

    /// Every slot's sums and histogram are its own: an entry for each of the 256 slots, with every part and the
    /// first and last wait buckets, adds to that slot only.
    @Test func everySlotKeepsItsOwnSumsAndHistogram() {
        let folder = RecordFolder()
        var totals = TelemetryTotals()
        let entries = (0..<UInt32(TelemetryTotals.slotCapacity)).map { slot in
            var counters = counters(cpuNanoseconds: UInt64(slot) + 1, faults: slot + 2)
            (counters.rx_bytes, counters.tx_bytes, counters.rx_packets, counters.tx_packets) =
                (UInt64(slot) + 3, UInt64(slot) + 4, slot + 5, slot + 6)
            (counters.voluntary_switches, counters.involuntary_switches, counters.runq_wait_ns) = (slot + 7, slot + 8, 9)
            withUnsafeMutableBytes(of: &counters.runq_wait_hist) {
                $0.storeBytes(of: slot + 10, toByteOffset: 0, as: UInt32.self)
                $0.storeBytes(of: slot + 11, toByteOffset: 31 * 4, as: UInt32.self)
            }
            counters.runq_wait_hist_mask = 1 | 1 << 31
            return (slot: slot, counters: counters)
        }
        #expect(fold(folder, record(cpu: 0, at: 1, entries), into: &totals) == TelemetryTotals.slotCapacity)
        for slot in 0..<TelemetryTotals.slotCapacity {
            let sums = totals[slot], value = UInt64(slot)
            #expect(sums.cpuNanoseconds == value + 1 && sums.pageFaults == value + 2)
            #expect(sums.rxBytes == value + 3 && sums.txBytes == value + 4 && sums.rxPackets == value + 5)
            #expect(sums.txPackets == value + 6 && sums.voluntarySwitches == value + 7)
            #expect(sums.involuntarySwitches == value + 8 && sums.runQueueWaitNanoseconds == 9)
            #expect(sums.runQueueWaits == 2 * value + 21)
            let histogram = totals.runQueueWaitHistogram(slot: slot)
            #expect(histogram.count == 32 && histogram.first == value + 10 && histogram.last == value + 11)
            #expect(histogram.reduce(0, +) == 2 * value + 21)
        }
    }

    /// The totals are a value: a copy keeps its sums when the original adds or resets, and a histogram read before
    /// a reset still shows what it read.
    @Test func copiesAndHistogramsKeepTheirValues() {
        let folder = RecordFolder()
        var totals = TelemetryTotals()
        _ = fold(folder, record(cpu: 0, at: 1, [(7, counters(cpuNanoseconds: 5, waitBucket: 4, waits: 3))]), into: &totals)
        let copy = totals
        let histogram = totals.runQueueWaitHistogram(slot: 7)
        _ = fold(folder, record(cpu: 1, at: 2, [(7, counters(cpuNanoseconds: 6, waitBucket: 4, waits: 1))]), into: &totals)
        #expect(totals[7].cpuNanoseconds == 11 && totals.runQueueWaitHistogram(slot: 7)[4] == 4)
        #expect(copy[7].cpuNanoseconds == 5 && copy.runQueueWaitHistogram(slot: 7)[4] == 3 && histogram[4] == 3)
        totals.reset(slot: 7)
        #expect(totals[7] == SlotTelemetry() && totals.runQueueWaitHistogram(slot: 7).allSatisfy { $0 == 0 })
        #expect(copy[7].runQueueWaits == 3)
        var other = copy
        other.reset()
        #expect(other[7] == SlotTelemetry() && copy[7].cpuNanoseconds == 5)
    }

    /// The block layout the fold relies on: the sums every entry adds to in the block's first cache line, the
    /// histogram after the sums and inside the block, blocks 64-byte aligned in one 2 MiB-aligned region.
    @Test func slotBlocksKeepTheHotSumsInOneCacheLine() {
        let hotEnd = MemoryLayout<SlotTelemetry>.offset(of: \.involuntarySwitches)! + 8
        #expect(hotEnd <= 64)
        for field in [\SlotTelemetry.cpuNanoseconds, \.runQueueWaitNanoseconds, \.runQueueWaits, \.voluntarySwitches] {
            #expect(MemoryLayout<SlotTelemetry>.offset(of: field)! < hotEnd)
        }
        #expect(MemoryLayout<SlotTelemetry>.size <= TelemetryStorage.histogramOffset)
        #expect(TelemetryStorage.histogramOffset % 64 == 0 && TelemetryStorage.blockBytes % 64 == 0)
        #expect(TelemetryStorage.histogramOffset + 8 * TelemetryTotals.histogramBuckets <= TelemetryStorage.blockBytes)
        #expect(TelemetryTotals.slotCapacity * TelemetryStorage.blockBytes <= TelemetryStorage.regionBytes)
        #expect(Int(bitPattern: TelemetryStorage().base) % TelemetryStorage.regionBytes == 0)
    }
}
