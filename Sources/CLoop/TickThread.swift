import Atomics
import CLoopSystem
import Glibc

/// The dedicated thread that runs the loop on absolute deadlines (clock_nanosleep TIMER_ABSTIME), optionally
/// SCHED_FIFO and pinned to a housekeeping core. A plain pthread: no Swift concurrency touches the tick.
public final class TickThread: @unchecked Sendable {
    /// How the thread is set up, and what it managed to get (real-time and pinning may be refused).
    public struct Placement: Sendable, Equatable {
        public var realtimePriority: Int32?
        public var cpu: Int?
        public init(realtimePriority: Int32?, cpu: Int?) {
            self.realtimePriority = realtimePriority
            self.cpu = cpu
        }
    }

    private let loop: ControlLoop
    private let periodNanoseconds: UInt64
    private let placement: Placement
    private let stopping = ManagedAtomic<Bool>(false)
    private let finished = ManagedAtomic<Bool>(false)
    private var thread: pthread_t?
    /// Problems met while placing the thread (no SCHED_FIFO permission, CPU offline), for the log.
    public private(set) var placementWarnings: [String] = []
    private let placed = ManagedAtomic<Bool>(false)

    public init(loop: ControlLoop, periodNanoseconds: UInt64, placement: Placement) {
        self.loop = loop
        self.periodNanoseconds = periodNanoseconds
        self.placement = placement
    }

    /// Starts the thread; returns once it has placed itself (so warnings are known).
    public func start() throws(AgentError) {
        let context = Unmanaged.passRetained(self).toOpaque()
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { raw in
            let me = Unmanaged<TickThread>.fromOpaque(raw!).takeRetainedValue()
            me.run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<TickThread>.fromOpaque(context).release()
            throw AgentError.system(call: "pthread_create", errno: rc)
        }
        thread = handle
        while !placed.load(ordering: .acquiring) { usleep(100) }
    }

    /// Asks the thread to stop after its current tick and waits for it.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        if let thread { pthread_join(thread, nil) }
        thread = nil
    }

    public var isRunning: Bool { thread != nil && !finished.load(ordering: .acquiring) }

    private func run() {
        _ = dpm_name_current_thread("dpm-tick")
        var warnings: [String] = []
        // Real-time first, then pin: moving to a CPU where a hog runs, a normal-priority thread can wait there for
        // seconds (seen here: a VM whose steal-time accounting froze the fair scheduler's clock for 10–40 s), stuck
        // inside sched_setaffinity; a SCHED_FIFO thread preempts the hog the moment it arrives.
        if let priority = placement.realtimePriority {
            let rc = dpm_set_fifo_reset_on_fork(priority)
            if rc != 0 { warnings.append("could not make the tick thread SCHED_FIFO \(priority): \(String(cString: strerror(-rc)))") }
        }
        if let cpu = placement.cpu {
            let rc = dpm_pin_current_thread(Int32(cpu))
            if rc != 0 { warnings.append("could not pin the tick thread to CPU \(cpu): \(String(cString: strerror(-rc)))") }
        }
        // Without real-time priority the kernel adds 50 µs of timer slack to every sleep; ask for none.
        _ = dpm_set_timer_slack_ns(1)
        placementWarnings = warnings
        placed.store(true, ordering: .releasing)

        var schedule = TickSchedule(periodNanoseconds: periodNanoseconds, startNanoseconds: dpm_monotonic_ns())
        while !stopping.load(ordering: .relaxed) {
            while dpm_sleep_until_ns(schedule.deadlineNanoseconds) == EINTR {}
            let now = dpm_monotonic_ns()
            let woke = schedule.woke(atNanoseconds: now)
            loop.histograms.lateness.record(woke.latenessNanoseconds)
            loop.tick(nowNanoseconds: now)
            let skipped = woke.skipped + schedule.finished(atNanoseconds: dpm_monotonic_ns())
            if skipped > 0 { loop.countMissed(skipped) }
        }
        finished.store(true, ordering: .releasing)
    }
}
