import CLibBPF

/// Asks CPUs whose telemetry is overdue to flush it now, so counts that no context switch would publish soon reach
/// the consumer within about two flush intervals: the run of a task that keeps its CPU (a spinner alone there, a
/// SCHED_FIFO task; its on-CPU time is otherwise charged only when it switches out) and the last counts of a CPU that
/// went idle.
///
/// Which CPUs are overdue it reads in place from the mmapped `cpu_flushes` array (no syscall for a CPU that needs
/// nothing); an overdue CPU gets one run of the `flush_cpu` program there (BPF_PROG_TEST_RUN on that CPU: one IPI,
/// about one syscall). A CPU that the program found idle with nothing to publish is parked until a context switch
/// there flushes again. Why this design and not crediting runs in user space: see `flush_cpu` in
/// `bpf/telemetry.bpf.c`.
///
/// - Important: The caller's own CPU is never asked: there the kernel would run the program without an IPI, with
///   interrupts on, where a softirq (a `cgroup_skb` program) could add to counters the program is taking. The
///   caller's own sleeps switch that CPU often enough. A caller that migrates between reading its CPU and the request
///   can still meet that case; a tick thread pinned to its core never does.
final class FlushRequester {
    private let flushes: MappedArray<dpm_cpu_flush>
    private let programFileDescriptor: Int32
    private let overdueNanoseconds: UInt64

    /// Maps `cpu_flushes` (one `dpm_cpu_flush` per possible CPU) read-only. A CPU is overdue when its last flush is
    /// `overdueNanoseconds` old.
    init(flushTimes map: BPFMap, flushProgramFileDescriptor: Int32, overdueNanoseconds: UInt64) throws {
        flushes = try MappedArray(map)
        programFileDescriptor = flushProgramFileDescriptor
        self.overdueNanoseconds = overdueNanoseconds
    }

    /// Asks every overdue CPU but the caller's own to flush; returns when their records are in the ring.
    /// Allocation-free.
    func requestOverdueFlushes() -> TelemetryProbes.FlushRequests {
        var requests = TelemetryProbes.FlushRequests()
        let now = TelemetryProbes.monotonicNanoseconds()
        let ownCPU = Int(dpm_current_cpu())
        let times = flushes.elements
        for cpu in 0..<flushes.count where cpu != ownCPU {
            // The kernel stores these 8-byte aligned words whole; a stale pair only delays a request by a tick.
            let lastFlush = times[cpu].last_flush_ns
            guard now > lastFlush, now - lastFlush >= overdueNanoseconds, times[cpu].parked_flush_ns != lastFlush
            else { continue }
            requests.asked += 1
            if dpm_run_program_on_cpu(programFileDescriptor, UInt32(cpu)) < 0 { requests.failed += 1 }
        }
        return requests
    }
}
