import BPFLoader
import CLoopSystem
import Glibc

/// The telemetry seam filled by BPFLoader: the kernel programs count each tenant's CPU time and run-queue waits
/// (log2 histogram) by cgroup v2 id, publish per-CPU deltas through a ring buffer, and the tick drains it.
///
/// BPFLoader hands out its own dense slots (slot 0 counts every cgroup no one watches); this keeps the mapping
/// from the agent's slots to them. The drain reads records in place and allocates nothing.
///
/// Each drain also reads, in place, what every CPU runs now (`TelemetryProbes.runningTask(cpu:)`) and gives the
/// loop's saturation rule each tenant's ongoing run (`TelemetryFrame.ongoingRunNanoseconds`): a spinner throttled
/// only at the next 4 ms scheduler tick shows its run on the tick it passes its quota, not after the throttle.
///
/// The agent does not ask overdue CPUs to flush (`TelemetryProbes.requestOverdueFlushes`): with a latency-critical
/// spinner alone on its core that is an IPI every few milliseconds, and on this host it cost the agent 0.9 % of a
/// core and 7× the missed ticks (Benchmarks/agent results, 2026-11-30 10:00) without a faster reaction. A running
/// task's time reaches the agent when it switches out or its CPU next flushes; a busy host switches often.
public final class BPFTelemetry: TelemetrySource, @unchecked Sendable {
    public let sourceName: String
    private let probes: TelemetryProbes
    private var totals = TelemetryTotals()
    /// BPFLoader's slot for each agent slot, −1 when not watched (a fixed buffer: the drain reads it for every
    /// slot on every tick, with no exclusivity check or copy).
    private let probeSlot: UnsafeMutableBufferPointer<Int>
    /// The agent slot of each BPFLoader slot, −1 when not watched: the running tasks name BPFLoader's slots.
    private let agentSlot: UnsafeMutableBufferPointer<Int>
    /// v2 hierarchy root: `<root>/unified` on a hybrid host, the root itself on a pure v2 host.
    private let unifiedRoot: String
    private let throttling: CpuThrottleFiles
    private var drains: UInt64 = 0
    private var droppedSeen: UInt64 = 0

    public init(cgroupRoot: String, capacity: Int) throws {
        probes = try TelemetryProbes()
        sourceName = "bpf (\(probes.flavour.rawValue))"
        probeSlot = .filled(capacity, with: -1)
        agentSlot = .filled(TelemetryTotals.slotCapacity, with: -1)
        let hybrid = access("\(cgroupRoot)/unified/cgroup.procs", F_OK) == 0
        unifiedRoot = hybrid ? "\(cgroupRoot)/unified" : cgroupRoot
        throttling = CpuThrottleFiles(cgroupRoot: cgroupRoot, capacity: capacity)
    }

    deinit {
        probeSlot.deallocate()
        agentSlot.deallocate()
    }

    public func attach(slot: Int, cgroupPath: String) throws {
        detach(slot: slot)
        let watch = try probes.watch(cgroupPath: "\(unifiedRoot)/\(cgroupPath)")
        totals.reset(slot: watch.slot)
        probeSlot[slot] = watch.slot
        agentSlot[watch.slot] = slot
        throttling.attach(slot: slot, cgroupPath: cgroupPath)
    }

    public func detach(slot: Int) {
        throttling.detach(slot: slot)
        guard probeSlot[slot] >= 0 else { return }
        try? probes.unwatch(slot: probeSlot[slot])
        agentSlot[probeSlot[slot]] = -1
        probeSlot[slot] = -1
    }

    public func drain(into frame: TelemetryFrame, nowNanoseconds: UInt64) {
        frame.measuresRunQueueWait = true
        probes.drain(into: &totals)
        Self.move(&totals, into: frame, probeSlot: probeSlot)
        addOngoingRuns(into: frame)
        throttling.read(into: frame, nowNanoseconds: nowNanoseconds)
        // The drop counter is a per-CPU map lookup: read it once a second, not every tick.
        drains &+= 1
        if drains % 1000 == 0, let dropped = try? probes.droppedRecords() {
            frame.droppedRecords = dropped &- droppedSeen
            droppedSeen = dropped
        } else {
            frame.droppedRecords = 0
        }
    }

    /// Moves each watched slot's sums into the frame and zeroes them: one exclusive access to the totals for the
    /// whole pass (as a class property, each access would be checked at run time).
    private static func move(_ totals: inout TelemetryTotals, into frame: TelemetryFrame, probeSlot: UnsafeMutableBufferPointer<Int>) {
        for slot in probeSlot.indices where probeSlot[slot] >= 0 {
            let source = probeSlot[slot]
            frame.clear(slot: slot)
            // The loop reads only CPU time and waits: a slot with neither since the last drain (a sleeping tenant)
            // is skipped; the counters the loop does not read keep adding up until the slot is next reset.
            let counts = totals[source]
            guard counts.cpuNanoseconds != 0 || counts.runQueueWaits != 0 else { continue }
            frame.cpuNanoseconds[slot] = counts.cpuNanoseconds
            do {
                // The slice shares the totals' storage: it must be gone before `reset` writes there, or that write
                // copies every slot's histogram (measured: 60% of a 64-tenant tick).
                let histogram = totals.runQueueWaitHistogram(slot: source)
                var bucket = 0
                for count in histogram where bucket < TelemetryFrame.waitBucketCount {
                    if count != 0 { frame.setWaits(count, slot: slot, bucket: bucket) }
                    bucket += 1
                }
            }
            totals.reset(slot: source)
        }
    }

    /// Adds each CPU's running task's unpublished run since the frame's window start to its tenant (after the drain,
    /// so no run counts in both; `move` zeroed the watched slots). One load per CPU and one clock read.
    private func addOngoingRuns(into frame: TelemetryFrame) {
        let now = dpm_monotonic_ns()
        let windowStart = frame.ongoingRunsSinceNanoseconds
        for cpu in 0..<probes.cpuCount {
            let running = probes.runningTask(cpu: cpu)
            guard let source = running.slot, agentSlot[source] >= 0 else { continue }
            let since = max(running.sinceNanoseconds, windowStart)
            // A task switched in after the clock read has run for nothing yet.
            if now > since { frame.ongoingRunNanoseconds[agentSlot[source]] &+= now - since }
        }
    }

    public func close() {
        for slot in probeSlot.indices { detach(slot: slot) }
        probes.close()
    }
}
