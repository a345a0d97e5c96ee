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
        counters.runq_waits = waits
        if let waitBucket {
            withUnsafeMutableBytes(of: &counters.runq_wait_hist) {
                $0.storeBytes(of: waits, toByteOffset: waitBucket * 4, as: UInt32.self)
            }
            counters.runq_wait_hist_mask = 1 << waitBucket
        }
        return counters
    }

    /// A flush record laid out as the kernel writes it into the ring: header, then `entries` slot entries.
    private func record(cpu: UInt32, at flushed: UInt64, _ entries: [(slot: UInt32, counters: dpm_slot_counters)])
        -> [UInt8]
    {
        let header = MemoryLayout<dpm_flush_record>.offset(of: \.entry)!
        var bytes = [UInt8](repeating: 0, count: header + entries.count * MemoryLayout<dpm_slot_entry>.stride)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: cpu, toByteOffset: MemoryLayout<dpm_flush_record>.offset(of: \.cpu)!, as: UInt32.self)
            raw.storeBytes(of: UInt32(entries.count), toByteOffset: MemoryLayout<dpm_flush_record>.offset(of: \.entries)!,
                           as: UInt32.self)
            raw.storeBytes(of: flushed, toByteOffset: MemoryLayout<dpm_flush_record>.offset(of: \.flushed_ns)!,
                           as: UInt64.self)
            for (index, entry) in entries.enumerated() {
                let slotEntry = dpm_slot_entry(slot: entry.slot, reserved: 0, counters: entry.counters)
                raw.storeBytes(of: slotEntry, toByteOffset: header + index * MemoryLayout<dpm_slot_entry>.stride,
                               as: dpm_slot_entry.self)
            }
        }
        return bytes
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
        #expect(totals[1] == SlotTelemetry())
    }
}
