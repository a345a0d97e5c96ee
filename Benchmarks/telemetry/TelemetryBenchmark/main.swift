import BPFLoader
import CMallocCounter
import Glibc

// Consumer-side benchmarks of the telemetry probes (run as root by Benchmarks/telemetry/run.sh):
//
//   TelemetryBenchmark drain TENANTS SECONDS CONSUMER[,CONSUMER…]
//       TENANTS tenants that each wake every millisecond; the consumer drains every millisecond for SECONDS per
//       CONSUMER phase (normal, fifo, fifo-spin; same tenants and probes, one after the other). Even ticks time the
//       drain by the wall clock, odd ticks by the consumer thread's CPU time (CLOCK_THREAD_CPUTIME_ID): median,
//       p99, max; records, entries and record bytes per drain, late ticks, heap allocations in the timed loop,
//       dropped records.
//       fifo-spin busy-waits between ticks instead of sleeping (caches and TLB stay warm): the difference is the
//       cold start after a sleep. Anchors of the same run: the same two clock reads around nothing, and a second
//       drain right after the first (empty ring, warm caches).
//   TelemetryBenchmark rate TENANTS SECONDS normal|fifo|none RING_BYTES
//       TENANTS tenants each running `perf bench sched pipe` (scheduler events as fast as the host allows); the
//       consumer drains every millisecond: events per second seen and dropped records. `none`: the probes stay
//       attached for SECONDS and nothing drains (once the ring is full, flushes count drops), so a workload run
//       beside it shows what the probes cost without the consumer's millisecond wake-ups.
//
// Tenants start through posix_spawn (no Foundation), so the benchmark also runs under valgrind --tool=callgrind.

func fail(_ message: String) -> Never {
    let line = "TelemetryBenchmark: \(message)\n"
    _ = write(2, line, line.utf8.count)
    removeTenantCgroups()
    exit(2)
}

/// The tenant cgroups this process made (path and its `cgroup.kill`, as C strings made when the cgroup was), so that
/// every way out removes them: the end of the run, `fail`, an uncaught error, SIGINT, SIGTERM and SIGHUP (before,
/// a run that ended any other way than normally left its cgroups behind). Fixed storage: the signal handler reads it.
nonisolated(unsafe) let tenantCgroups = UnsafeMutablePointer<(path: UnsafeMutablePointer<CChar>,
    kill: UnsafeMutablePointer<CChar>)>.allocate(capacity: 1024)
nonisolated(unsafe) var tenantCgroupCount = 0

/// Kills what runs in each tenant cgroup and removes it, waiting up to 30 s per cgroup for its tasks to exit and
/// killing again meanwhile (a task that joined after the first kill). Async-signal-safe: system calls only.
func removeTenantCgroups() {
    for index in 0..<tenantCgroupCount { killTasks(ofCgroup: index) }
    for index in 0..<tenantCgroupCount {
        var attempts = 0
        while rmdir(tenantCgroups[index].path) != 0 && errno == EBUSY && attempts < 3000 {
            killTasks(ofCgroup: index)
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
            attempts += 1
        }
        if access(tenantCgroups[index].path, F_OK) == 0 {
            let message = "TelemetryBenchmark: could not remove the tenant cgroup "
            _ = write(2, message, strlen(message))
            _ = write(2, tenantCgroups[index].path, strlen(tenantCgroups[index].path))
            _ = write(2, "\n", 1)
        }
    }
    tenantCgroupCount = 0
}

/// Writes `cgroup.kill` of the tenant cgroup at `index`: SIGKILL to every task in it and below.
func killTasks(ofCgroup index: Int) {
    let kill = open(tenantCgroups[index].kill, O_WRONLY)
    if kill >= 0 {
        _ = write(kill, "1", 1)
        close(kill)
    }
}

func nanoseconds(_ clock: clockid_t) -> UInt64 {
    var now = timespec()
    clock_gettime(clock, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

func sleepUntil(_ deadline: UInt64) {
    var wake = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nil) == EINTR {}
}

/// Makes this thread SCHED_FIFO 50 (children start as normal tasks: SCHED_RESET_ON_FORK), or normal again.
func setRealTime(_ realTime: Bool) {
    var parameters = sched_param(sched_priority: realTime ? 50 : 0)
    let resetOnFork: Int32 = 0x4000_0000
    guard sched_setscheduler(0, (realTime ? SCHED_FIFO : SCHED_OTHER) | resetOnFork, &parameters) == 0 else {
        fail("sched_setscheduler: errno \(errno)")
    }
}

/// The directory of this executable (TelemetryLoad sits beside it).
func executableDirectory() -> String {
    var path = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &path, path.count - 1)
    guard length > 0 else { fail("readlink /proc/self/exe: errno \(errno)") }
    let executable = String(decoding: path[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return String(executable[..<(executable.lastIndex(of: "/") ?? executable.endIndex)])
}

/// Starts `arguments` (a path or a name on PATH) in the cgroup v2 directory `cgroup`, via `sh`, output discarded.
func spawn(in cgroup: String, _ arguments: [String]) -> pid_t {
    let argv = ["/bin/sh", "-c", "echo $$ > \(cgroup)/cgroup.procs && exec \"$@\" >/dev/null 2>&1", "sh"] + arguments
    var cArguments = argv.map { strdup($0) } + [nil]
    defer { cArguments.forEach { free($0) } }
    var pid = pid_t()
    let result = posix_spawn(&pid, "/bin/sh", nil, nil, &cArguments, environ)
    guard result == 0 else { fail("posix_spawn \(arguments[0]): errno \(result)") }
    return pid
}

/// Creates `count` cgroups `dpm-bench-<pid>-<i>` and starts `command` in each.
func startTenants(_ count: Int, _ command: [String]) -> [(path: String, pid: pid_t)] {
    guard count <= 1024 else { fail("at most 1024 tenants") }
    return (0..<count).map { index in
        let path = "/sys/fs/cgroup/unified/dpm-bench-\(getpid())-\(index)"
        guard mkdir(path, 0o755) == 0 else { fail("mkdir \(path): errno \(errno)") }
        tenantCgroups[tenantCgroupCount] = (strdup(path)!, strdup("\(path)/cgroup.kill")!)
        tenantCgroupCount += 1
        return (path, spawn(in: path, command))
    }
}

/// Kills every process of each tenant (`cgroup.kill`: forked children too), reaps the ones this process started,
/// and removes the cgroups.
func stopTenants(_ tenants: [(path: String, pid: pid_t)]) {
    for index in 0..<tenantCgroupCount { killTasks(ofCgroup: index) }
    for tenant in tenants {
        var status: Int32 = 0
        waitpid(tenant.pid, &status, 0)
    }
    removeTenantCgroups()
}

/// SIGINT, SIGTERM and SIGHUP remove the tenant cgroups before the process ends.
func removeTenantCgroupsOnSignals() {
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        _ = Glibc.signal(signal) { received in
            removeTenantCgroups()
            _exit(128 + received)
        }
    }
}

/// Median, p99 and max of a sample, in µs.
func summary(_ values: [UInt64]) -> String {
    let sorted = values.sorted()
    func at(_ fraction: Double) -> UInt64 { sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))] }
    func microseconds(_ value: UInt64) -> String {
        let hundredths = (value + 5) / 10
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    }
    return "median=\(microseconds(at(0.5))) p99=\(microseconds(at(0.99))) max=\(microseconds(sorted.last ?? 0))"
}

func counts(_ values: [UInt64]) -> String {
    let sorted = values.sorted()
    return "median=\(sorted[sorted.count / 2]) p99=\(sorted[min(sorted.count - 1, sorted.count * 99 / 100)])"
}

func loadAverage() -> String {
    var averages = [Double](repeating: 0, count: 3)
    return getloadavg(&averages, 3) == 3 ? averages.map { "\(($0 * 100).rounded() / 100)" }.joined(separator: " ") : "?"
}

/// Drains every millisecond for `drains` ticks and prints what each drain cost.
func measure(_ probes: TelemetryProbes, consumer: String, tenantCount: Int, drains: Int) throws {
    setRealTime(consumer.hasPrefix("fifo"))
    let spinning = consumer == "fifo-spin"
    var totals = TelemetryTotals()
    // Even ticks time the drain by the wall clock (vDSO, ~20 ns), odd ticks by the thread's CPU time (a system
    // call, ~0.7 µs here): never one clock around the other. Every sample array is allocated before the timed loop;
    // the loop itself must not allocate.
    let samples = (drains + 1) / 2
    var wallNanoseconds = [UInt64](repeating: 0, count: samples)
    var cpuNanoseconds = [UInt64](repeating: 0, count: samples)
    var emptyWallNanoseconds = [UInt64](repeating: 0, count: samples)
    var emptyCPUNanoseconds = [UInt64](repeating: 0, count: samples)
    var warmEmptyDrainNanoseconds = [UInt64](repeating: 0, count: samples)
    var records = [UInt64](repeating: 0, count: drains)
    var entries = [UInt64](repeating: 0, count: drains)
    var recordBytes = [UInt64](repeating: 0, count: drains)
    var flushRequests = [UInt64](repeating: 0, count: drains)
    var requestWallNanoseconds = [UInt64](repeating: 0, count: drains)
    var lateTicks = 0
    probes.drain(into: &totals)
    totals.reset()
    let droppedBefore = try probes.droppedRecords()
    let allocationsBefore = dpm_allocation_count()
    let start = nanoseconds(CLOCK_MONOTONIC)
    var tick = start
    for index in 0..<drains {
        tick += 1_000_000
        if spinning { while nanoseconds(CLOCK_MONOTONIC) < tick {} } else { sleepUntil(tick) }
        let clock = index % 2 == 0 ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID
        let sample = index / 2
        // Anchor: the same clock read twice around nothing.
        let emptyStart = nanoseconds(clock)
        let empty = nanoseconds(clock) - emptyStart
        let drainStart = nanoseconds(clock)
        let drain = probes.drain(into: &totals)
        let cost = nanoseconds(clock) - drainStart
        if index % 2 == 0 {
            wallNanoseconds[sample] = cost
            emptyWallNanoseconds[sample] = empty
            let drained = nanoseconds(CLOCK_MONOTONIC)
            probes.drain(into: &totals)
            warmEmptyDrainNanoseconds[sample] = nanoseconds(CLOCK_MONOTONIC) - drained
            if emptyStart - tick > 1_000_000 { lateTicks += 1 }
        } else {
            cpuNanoseconds[sample] = cost
            emptyCPUNanoseconds[sample] = empty
        }
        records[index] = UInt64(drain.records)
        entries[index] = UInt64(drain.entries)
        recordBytes[index] = UInt64(drain.bytes)
        // As a consumer that needs held-back counts does (`dpm telemetry`; the agent does not): after the drain and
        // the work that waits for it, ask overdue CPUs to flush; their records reach the next drain.
        let requestStart = nanoseconds(CLOCK_MONOTONIC)
        flushRequests[index] = UInt64(probes.requestOverdueFlushes().asked)
        requestWallNanoseconds[index] = nanoseconds(CLOCK_MONOTONIC) - requestStart
    }
    let elapsed = nanoseconds(CLOCK_MONOTONIC) - start
    let allocations = dpm_allocation_count() - allocationsBefore
    let dropped = try probes.droppedRecords() - droppedBefore
    setRealTime(false)
    let events = (0..<TelemetryTotals.slotCapacity).reduce(UInt64(0)) { sum, slot in
        sum + totals[slot].contextSwitches + totals[slot].pageFaults + totals[slot].rxPackets + totals[slot].txPackets
    }
    let seconds = Double(elapsed) / 1e9
    print("consumer=\(consumer) tenants=\(tenantCount) flavour=\(probes.flavour.rawValue) drains=\(drains) "
        + "seconds=\((seconds * 100).rounded() / 100) load=\(loadAverage())")
    print("  drain wall_us \(summary(wallNanoseconds))  thread_cpu_us \(summary(cpuNanoseconds))  "
        + "(\(wallNanoseconds.count) drains each)")
    print("  records_per_drain \(counts(records))  entries_per_drain \(counts(entries))  "
        + "record_bytes_per_drain \(counts(recordBytes))  "
        + "entries_total=\(entries.reduce(0, +))  late_ticks=\(lateTicks)")
    // The flush requests apart from the drain (an IPI to each overdue CPU and a run of flush_cpu there), and the
    // drains that read their records (the drain right after a round that asked) beside the rest.
    let askingRounds = (0..<drains).filter { flushRequests[$0] > 0 }
    let afterAsking = (0..<samples).filter { 2 * $0 > 0 && flushRequests[2 * $0 - 1] > 0 }
    let afterQuiet = (0..<samples).filter { 2 * $0 == 0 || flushRequests[2 * $0 - 1] == 0 }
    print("  flush_requests_total=\(flushRequests.reduce(0, +)) per_second=\(UInt64(Double(flushRequests.reduce(0, +)) / seconds))  "
        + "rounds_asking=\(askingRounds.count) request_wall_us \(askingRounds.isEmpty ? "-" : summary(askingRounds.map { requestWallNanoseconds[$0] }))  "
        + "all_rounds request_wall_us \(summary(requestWallNanoseconds))")
    print("  drains_after_a_request=\(afterAsking.count) wall_us \(afterAsking.isEmpty ? "-" : summary(afterAsking.map { wallNanoseconds[$0] }))  "
        + "other_drains=\(afterQuiet.count) wall_us \(afterQuiet.isEmpty ? "-" : summary(afterQuiet.map { wallNanoseconds[$0] }))")
    print("  anchor empty_interval wall_us \(summary(emptyWallNanoseconds))  thread_cpu_us \(summary(emptyCPUNanoseconds))")
    print("  anchor empty_warm_drain wall_us \(summary(warmEmptyDrainNanoseconds))")
    print("  heap_allocations_in_timed_loop=\(allocations) events_per_second=\(UInt64(Double(events) / seconds)) "
        + "dropped_records=\(dropped)")
}

let arguments = CommandLine.arguments
guard arguments.count >= 5, let tenantCount = Int(arguments[2]), let seconds = Double(arguments[3]) else {
    fail("usage: TelemetryBenchmark drain TENANTS SECONDS CONSUMER[,CONSUMER…] | rate TENANTS SECONDS normal|fifo|none RING_BYTES")
}
let mode = arguments[1]
let consumers = arguments[4].split(separator: ",").map(String.init)
guard consumers.allSatisfy(["normal", "fifo", "fifo-spin", "none"].contains) else {
    fail("unknown consumer \(arguments[4])")
}
var options = TelemetryProbes.Options()
options.pinDirectory = nil
let command: [String]
switch mode {
case "drain":
    let phases = Double(consumers.count)
    command = ["\(executableDirectory())/TelemetryLoad", "-", "nap", "\(seconds * phases + 2)"]
case "rate":
    guard arguments.count == 6, let ringBytes = UInt32(arguments[5]) else { fail("rate needs RING_BYTES") }
    options.ringBufferBytes = ringBytes
    command = ["perf", "bench", "sched", "pipe", "-l", "2000000000"]
default: fail("unknown mode \(mode)")
}
removeTenantCgroupsOnSignals()
do {
    let probes = try TelemetryProbes(options: options)
    let tenants = startTenants(tenantCount, command)
    for tenant in tenants { _ = try probes.watch(cgroupPath: tenant.path) }
    print("# \(mode): \(tenantCount) tenants, ring_bytes=\(options.ringBufferBytes), one drain per millisecond")
    usleep(200_000)
    for consumer in consumers {
        if consumer == "none" {
            usleep(UInt32(seconds * 1e6))
            print("consumer=none tenants=\(tenantCount) seconds=\(seconds) dropped_records=\(try probes.droppedRecords())")
        } else {
            try measure(probes, consumer: consumer, tenantCount: tenantCount, drains: Int(seconds * 1000))
        }
    }
    stopTenants(tenants)
} catch {
    fail("\(error)")
}
