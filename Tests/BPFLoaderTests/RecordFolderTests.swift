@testable import BPFLoader
import CLibBPF
import Testing

/// The fold from cumulative per-(CPU, slot) records to per-slot deltas, without a kernel.
@Suite struct RecordFolderTests {
    private func record(cpu: UInt32, slot: UInt32, at flushed: UInt64, cpuNanoseconds: UInt64, faults: UInt32,
                        waitBucket: Int? = nil, waits: UInt32 = 0) -> dpm_slot_record {
        var counters = dpm_slot_counters()
        counters.cpu_ns = cpuNanoseconds
        counters.page_faults = faults
        counters.runq_waits = waits
        if let waitBucket {
            withUnsafeMutableBytes(of: &counters.runq_wait_hist) {
                $0.storeBytes(of: waits, toByteOffset: waitBucket * 4, as: UInt32.self)
            }
        }
        return dpm_slot_record(cpu: cpu, slot: slot, flushed_ns: flushed, counters: counters)
    }

    @Test func sumsDeltasAcrossCPUs() {
        var folder = RecordFolder(cpuCount: 2)
        var totals = TelemetryTotals()
        #expect(folder.fold(record(cpu: 0, slot: 3, at: 10, cpuNanoseconds: 100, faults: 5), into: &totals))
        #expect(folder.fold(record(cpu: 1, slot: 3, at: 11, cpuNanoseconds: 40, faults: 1), into: &totals))
        #expect(folder.fold(record(cpu: 0, slot: 3, at: 20, cpuNanoseconds: 250, faults: 7), into: &totals))
        #expect(totals[3].cpuNanoseconds == 290)
        #expect(totals[3].pageFaults == 8)
        #expect(totals[4] == SlotTelemetry())
    }

    @Test func thirtyTwoBitCountsWrap() {
        var folder = RecordFolder(cpuCount: 1)
        var totals = TelemetryTotals()
        _ = folder.fold(record(cpu: 0, slot: 1, at: 1, cpuNanoseconds: 0, faults: UInt32.max - 1), into: &totals)
        totals.reset()
        _ = folder.fold(record(cpu: 0, slot: 1, at: 2, cpuNanoseconds: 0, faults: 3), into: &totals)
        #expect(totals[1].pageFaults == 5)
    }

    @Test func histogramBucketsAreDeltas() {
        var folder = RecordFolder(cpuCount: 1)
        var totals = TelemetryTotals()
        _ = folder.fold(record(cpu: 0, slot: 2, at: 1, cpuNanoseconds: 0, faults: 0, waitBucket: 12, waits: 4),
                        into: &totals)
        _ = folder.fold(record(cpu: 0, slot: 2, at: 2, cpuNanoseconds: 0, faults: 0, waitBucket: 12, waits: 9),
                        into: &totals)
        #expect(totals.runQueueWaitHistogram(slot: 2)[2 * TelemetryTotals.histogramBuckets + 12] == 9)
        #expect(totals[2].runQueueWaits == 9)
        #expect(totals.runQueueWaitHistogram(slot: 2).reduce(0, +) == 9)
    }

    @Test func recordsOlderThanTheBaselineAreIgnored() {
        var folder = RecordFolder(cpuCount: 1)
        var totals = TelemetryTotals()
        var baseline = dpm_slot_counters()
        baseline.cpu_ns = 1000
        folder.setBaseline(slot: 5, perCPU: [baseline], at: 50)
        #expect(!folder.fold(record(cpu: 0, slot: 5, at: 40, cpuNanoseconds: 900, faults: 0), into: &totals))
        #expect(folder.fold(record(cpu: 0, slot: 5, at: 60, cpuNanoseconds: 1300, faults: 0), into: &totals))
        #expect(totals[5].cpuNanoseconds == 300)
    }

    @Test func malformedRecordsAreRejected() {
        var folder = RecordFolder(cpuCount: 1)
        var totals = TelemetryTotals()
        #expect(!folder.fold(record(cpu: 7, slot: 1, at: 1, cpuNanoseconds: 1, faults: 1), into: &totals))
        #expect(!folder.fold(record(cpu: 0, slot: 9999, at: 1, cpuNanoseconds: 1, faults: 1), into: &totals))
        #expect(totals[1] == SlotTelemetry())
    }
}
