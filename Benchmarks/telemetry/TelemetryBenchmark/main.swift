import BPFLoader
import Foundation
import Glibc

// Consumer-side benchmarks of the telemetry probes (run as root by Benchmarks/telemetry/run.sh):
//
//   TelemetryBenchmark drain TENANTS SECONDS normal|fifo|fifo-spin
//       TENANTS tenants that each wake every millisecond; the consumer drains every millisecond and times each
//       drain: median and p99 µs, records per drain, late ticks, dropped records. fifo-spin busy-waits between
//       ticks instead of sleeping (caches and TLB stay warm): the difference is the cold start after a sleep.
//   TelemetryBenchmark rate TENANTS SECONDS normal|fifo RING_BYTES
//       TENANTS tenants each running `perf bench sched pipe` (scheduler events as fast as the host allows); the
//       consumer drains every millisecond: events per second seen and dropped records.

struct Tenant {
    let path: String
    let load: Process
}

func fail(_ message: String) -> Never {
    let line = "TelemetryBenchmark: \(message)\n"
    _ = write(2, line, line.utf8.count)
    exit(2)
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

func sleepUntil(_ deadline: UInt64) {
    var wake = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nil) == EINTR {}
}

/// Makes this process SCHED_FIFO 50; children start as normal tasks (SCHED_RESET_ON_FORK).
func becomeRealTime() {
    var parameters = sched_param(sched_priority: 50)
    let resetOnFork: Int32 = 0x4000_0000
    guard sched_setscheduler(0, SCHED_FIFO | resetOnFork, &parameters) == 0 else { fail("SCHED_FIFO: errno \(errno)") }
}

/// Creates `count` cgroups and starts `command` (given the cgroup path) in each.
func startTenants(_ count: Int, _ command: (String) -> [String]) throws -> [Tenant] {
    let prefix = "/sys/fs/cgroup/unified/dpm-bench-\(getpid())"
    return try (0..<count).map { index in
        let path = "\(prefix)-\(index)"
        guard mkdir(path, 0o755) == 0 else { fail("mkdir \(path): errno \(errno)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "echo $$ > \(path)/cgroup.procs && exec \"$@\"", "sh"] + command(path)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return Tenant(path: path, load: process)
    }
}

/// Kills every process of each tenant (`cgroup.kill`: forked children too), then removes the cgroups.
func stopTenants(_ tenants: [Tenant]) {
    for tenant in tenants {
        let kill = open("\(tenant.path)/cgroup.kill", O_WRONLY)
        if kill >= 0 {
            _ = write(kill, "1", 1)
            close(kill)
        }
    }
    for tenant in tenants {
        tenant.load.waitUntilExit()
        for _ in 0..<200 where rmdir(tenant.path) != 0 && errno == EBUSY { usleep(10_000) }
    }
}

func percentile(_ sorted: [UInt64], _ fraction: Double) -> UInt64 {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
}

func microseconds(_ nanoseconds: UInt64) -> String {
    String(format: "%.2f", Double(nanoseconds) / 1000)
}

let arguments = CommandLine.arguments
guard arguments.count >= 5, let tenantCount = Int(arguments[2]), let seconds = Double(arguments[3]),
      ["normal", "fifo", "fifo-spin"].contains(arguments[4])
else { fail("usage: TelemetryBenchmark drain|rate TENANTS SECONDS normal|fifo [RING_BYTES]") }
let mode = arguments[1]
let realTime = arguments[4].hasPrefix("fifo")
/// Busy-waits for the next tick instead of sleeping: shows how much of a drain is the cold start after a sleep.
let spinning = arguments[4] == "fifo-spin"
let loadBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    .deletingLastPathComponent().appendingPathComponent("TelemetryLoad").path

var options = TelemetryProbes.Options()
options.pinDirectory = nil
if mode == "rate" {
    guard arguments.count == 6, let ringBytes = UInt32(arguments[5]) else { fail("rate needs RING_BYTES") }
    options.ringBufferBytes = ringBytes
}
let probes = try TelemetryProbes(options: options)
let tenants: [Tenant]
switch mode {
case "drain": tenants = try startTenants(tenantCount) { _ in [loadBinary, "-", "nap", "\(seconds + 2)"] }
case "rate": tenants = try startTenants(tenantCount) { _ in ["perf", "bench", "sched", "pipe", "-l", "2000000000"] }
default: fail("unknown mode \(mode)")
}
defer { stopTenants(tenants) }
let watches = try tenants.map { try probes.watch(cgroupPath: $0.path) }
if realTime { becomeRealTime() }

var totals = TelemetryTotals()
let drains = Int(seconds * 1000)
var drainNanoseconds = [UInt64](repeating: 0, count: drains)
/// Anchor: a second drain right after the first, on an empty ring with warm caches and TLB.
var emptyDrainNanoseconds = [UInt64](repeating: 0, count: drains)
var recordsPerDrain = [UInt64](repeating: 0, count: drains)
var lateTicks = 0
usleep(200_000)
try probes.drain(into: &totals)
totals.reset()
// Drops while nobody drained during the start-up above do not count.
let droppedBefore = try probes.droppedRecords()
let start = monotonicNanoseconds()
var tick = start
for index in 0..<drains {
    tick += 1_000_000
    if spinning { while monotonicNanoseconds() < tick {} } else { sleepUntil(tick) }
    let before = monotonicNanoseconds()
    if before - tick > 1_000_000 { lateTicks += 1 }
    recordsPerDrain[index] = UInt64(try probes.drain(into: &totals))
    let after = monotonicNanoseconds()
    drainNanoseconds[index] = after - before
    try probes.drain(into: &totals)
    emptyDrainNanoseconds[index] = monotonicNanoseconds() - after
}
let elapsed = monotonicNanoseconds() - start
let dropped = try probes.droppedRecords() - droppedBefore
let sortedDrains = drainNanoseconds.sorted()
let sortedRecords = recordsPerDrain.sorted()
let sortedEmptyDrains = emptyDrainNanoseconds.sorted()
let events = (0..<TelemetryTotals.slotCapacity).reduce(UInt64(0)) { sum, slot in
    sum + totals[slot].contextSwitches + totals[slot].pageFaults + totals[slot].rxPackets + totals[slot].txPackets
}
print("mode=\(mode) tenants=\(tenantCount) watched=\(watches.count) consumer=\(arguments[4]) "
    + "flavour=\(probes.flavour.rawValue) ring_bytes=\(options.ringBufferBytes) drains=\(drains) "
    + "seconds=\(String(format: "%.2f", Double(elapsed) / 1e9))")
print("drain_us median=\(microseconds(percentile(sortedDrains, 0.5))) p99=\(microseconds(percentile(sortedDrains, 0.99))) "
    + "max=\(microseconds(sortedDrains.last ?? 0)) records_per_drain median=\(percentile(sortedRecords, 0.5)) "
    + "p99=\(percentile(sortedRecords, 0.99)) late_ticks=\(lateTicks)")
print("anchor empty_warm_drain_us median=\(microseconds(percentile(sortedEmptyDrains, 0.5))) "
    + "p99=\(microseconds(percentile(sortedEmptyDrains, 0.99)))")
print("events_per_second=\(UInt64(Double(events) / (Double(elapsed) / 1e9))) dropped_records=\(dropped)")
