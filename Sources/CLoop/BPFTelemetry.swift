import BPFLoader
import Glibc

/// The telemetry seam filled by BPFLoader: the kernel programs count each tenant's CPU time and run-queue waits
/// (log2 histogram) by cgroup v2 id, publish per-CPU deltas through a ring buffer, and the tick drains it.
///
/// BPFLoader hands out its own dense slots (slot 0 counts every cgroup no one watches); this keeps the mapping
/// from the agent's slots to them. The drain reads records in place and allocates nothing.
public final class BPFTelemetry: TelemetrySource, @unchecked Sendable {
    public let sourceName: String
    private let probes: TelemetryProbes
    private var totals = TelemetryTotals()
    /// BPFLoader's slot for each agent slot, −1 when not watched.
    private var probeSlot: [Int]
    /// v2 hierarchy root: `<root>/unified` on a hybrid host, the root itself on a pure v2 host.
    private let unifiedRoot: String
    private var drains: UInt64 = 0
    private var droppedSeen: UInt64 = 0

    public init(cgroupRoot: String, capacity: Int) throws {
        probes = try TelemetryProbes()
        sourceName = "bpf (\(probes.flavour.rawValue))"
        probeSlot = Array(repeating: -1, count: capacity)
        let hybrid = access("\(cgroupRoot)/unified/cgroup.procs", F_OK) == 0
        unifiedRoot = hybrid ? "\(cgroupRoot)/unified" : cgroupRoot
    }

    public func attach(slot: Int, cgroupPath: String) throws {
        detach(slot: slot)
        let watch = try probes.watch(cgroupPath: "\(unifiedRoot)/\(cgroupPath)")
        totals.reset(slot: watch.slot)
        probeSlot[slot] = watch.slot
    }

    public func detach(slot: Int) {
        guard probeSlot[slot] >= 0 else { return }
        try? probes.unwatch(slot: probeSlot[slot])
        probeSlot[slot] = -1
    }

    public func drain(into frame: TelemetryFrame, nowNanoseconds: UInt64) {
        frame.measuresRunQueueWait = true
        probes.drain(into: &totals)
        for slot in 0..<probeSlot.count where probeSlot[slot] >= 0 {
            let source = probeSlot[slot]
            frame.cpuNanoseconds[slot] = totals[source].cpuNanoseconds
            do {
                // The slice shares the totals' storage: it must be gone before `reset` writes there, or that write
                // copies every slot's histogram (measured: 60% of a 64-tenant tick).
                let histogram = totals.runQueueWaitHistogram(slot: source)
                let base = slot * TelemetryFrame.waitBucketCount
                var bucket = 0
                for count in histogram where bucket < TelemetryFrame.waitBucketCount {
                    frame.waitBuckets[base + bucket] = count
                    bucket += 1
                }
            }
            totals.reset(slot: source)
        }
        // The drop counter is a per-CPU map lookup: read it once a second, not every tick.
        drains &+= 1
        if drains % 1000 == 0, let dropped = try? probes.droppedRecords() {
            frame.droppedRecords = dropped &- droppedSeen
            droppedSeen = dropped
        } else {
            frame.droppedRecords = 0
        }
    }

    public func close() {
        for slot in probeSlot.indices { detach(slot: slot) }
        probes.close()
    }
}
