// Enforce benchmark: latency of one control write of each kind, and of applying partition diffs.
//
// Run as root: `swift run -c release EnforceBenchmark [runs]`. Creates its own cgroups (`dpm-test-bench-<random>`)
// and network namespace, removes them at the end. Anchors measured in the same run: a raw write of the same file
// (no planning) for applies, and the `tc class change` command for the netlink rate change. Heap allocations per
// apply are counted by interposing malloc (CMallocCounter). The shaped applies change HTB ceilings on veth-b through
// an Enforcer with the BPF egress classifier (bpffs and CAP_BPF needed).
import CMallocCounter
import Enforce
import Foundation
import Pool

let runs = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 2000 : 2000
let tag = "dpm-test-bench-\(UInt32.random(in: 0...UInt32.max))"

func shell(_ command: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    try? process.run()
    process.waitUntilExit()
}

func nanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// This thread's CPU time: on a shared 2-CPU host the wall clock also counts the time others' builds ran.
func threadCPUNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

struct Summary {
    var median: Double, p99: Double
    var cpuMedian: Double, cpuP99: Double
    /// Heap allocations per run (mean).
    var allocations: Double
    init(_ samples: [UInt64], cpu: [UInt64], allocations: UInt64) {
        func percentile(_ values: [UInt64], _ fraction: Double) -> Double {
            let sorted = values.sorted()
            return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]) / 1000
        }
        median = percentile(samples, 0.5)
        p99 = percentile(samples, 0.99)
        cpuMedian = percentile(cpu, 0.5)
        cpuP99 = percentile(cpu, 0.99)
        self.allocations = Double(allocations) / Double(samples.count)
    }
}

func report(_ name: String, _ summary: Summary, anchor: (String, Summary)? = nil) {
    var line = "\(name.padding(toLength: 46, withPad: " ", startingAt: 0)) median \(String(format: "%8.1f", summary.median)) µs  p99 \(String(format: "%8.1f", summary.p99)) µs"
        + " | thread CPU median \(String(format: "%7.1f", summary.cpuMedian)) µs  p99 \(String(format: "%7.1f", summary.cpuP99)) µs"
        + " | \(String(format: "%6.1f", summary.allocations)) allocations"
    if let (anchorName, anchorSummary) = anchor {
        line += String(format: "   %.3gx the median of %@", summary.median / anchorSummary.median, anchorName)
    }
    print(line)
}

func measure(_ count: Int, _ body: (Int) throws -> Void) rethrows -> Summary {
    var samples: [UInt64] = [], cpu: [UInt64] = []
    samples.reserveCapacity(count)
    cpu.reserveCapacity(count)
    var allocations: UInt64 = 0
    for index in 0..<count {
        let start = nanoseconds(), cpuStart = threadCPUNanoseconds(), allocationsStart = dpm_allocation_count()
        try body(index)
        allocations += dpm_allocation_count() - allocationsStart
        cpu.append(threadCPUNanoseconds() - cpuStart)
        samples.append(nanoseconds() - start)
    }
    return Summary(samples, cpu: cpu, allocations: allocations)
}

let tenantCount = 64
let hierarchies = ["cpuset", "cpu", "memory", "unified"]
let cgroupPaths = (0..<tenantCount).map { "\(tag)/t\($0)" }
for hierarchy in hierarchies {
    for path in [tag] + cgroupPaths { try? FileManager.default.createDirectory(atPath: "/sys/fs/cgroup/\(hierarchy)/\(path)", withIntermediateDirectories: true) }
}
for path in [tag] + cgroupPaths {
    shell("cat /sys/fs/cgroup/cpuset/cpuset.mems > /sys/fs/cgroup/cpuset/\(path)/cpuset.mems; cat /sys/fs/cgroup/cpuset/cpuset.cpus > /sys/fs/cgroup/cpuset/\(path)/cpuset.cpus")
}
let namespace = tag + "-ns"
shell("ip netns add \(namespace) && ip -n \(namespace) link add veth-a type veth peer name veth-b && ip -n \(namespace) link set veth-a up && ip -n \(namespace) link set veth-b up")
defer {
    shell("ip netns del \(namespace)")
    for hierarchy in hierarchies {
        for path in cgroupPaths.reversed() + [tag] { rmdir("/sys/fs/cgroup/\(hierarchy)/\(path)") }
    }
}

let host = try TopologyReader(files: ControlFiles()).hostCapacity()
print("Enforce benchmark: \(runs) runs per figure; host: \(host.cores.count) CPUs, \(Int(host.memoryBytes / 1_048_576)) MiB, cgroup v1 (hybrid); \(ProcessInfo.processInfo.operatingSystemVersionString)")
print("load average at start: \((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?")")

// 1. One write of each kind, through ControlFiles (descriptor opened once).
let files = ControlFiles()
let first = cgroupPaths[0]
let rawCpuset = try measure(runs) { try files.write($0 % 2 == 0 ? "0" : "0-1", to: "/sys/fs/cgroup/cpuset/\(first)/cpuset.cpus") }
let rawQuota = try measure(runs) { try files.write($0 % 2 == 0 ? "20000" : "30000", to: "/sys/fs/cgroup/cpu/\(first)/cpu.cfs_quota_us") }
let rawMemory = try measure(runs) { try files.write($0 % 2 == 0 ? "104857600" : "209715200", to: "/sys/fs/cgroup/memory/\(first)/memory.limit_in_bytes") }
let shaper = try TrafficShaper(namespacePath: "/var/run/netns/\(namespace)", linkBitsPerSecond: ["veth-a": 1e9])
try shaper.prepare(link: "veth-a")
let index = try shaper.interfaceIndex(of: "veth-a")
for minor in 2..<UInt16(2 + tenantCount) {
    try shaper.setClassRate(interfaceIndex: index, minor: minor, rateBitsPerSecond: 1e6, ceilBitsPerSecond: 10e6)
}
let netlink = try measure(runs) { try shaper.setClassRate(interfaceIndex: index, minor: 2, rateBitsPerSecond: 1e6, ceilBitsPerSecond: $0 % 2 == 0 ? 50e6 : 200e6) }
let tcCommand = measure(max(20, runs / 50)) { shell("tc -n \(namespace) class change dev veth-a parent d9:1 classid d9:2 htb rate 1mbit ceil \($0 % 2 == 0 ? 50 : 200)mbit") }
print("\n# One write (ControlFiles, descriptor kept open)")
report("cpuset.cpus (v1, empty cgroup)", rawCpuset)
report("cpu.cfs_quota_us (v1)", rawQuota)
report("memory.limit_in_bytes (v1)", rawMemory)
report("HTB class rate change, rtnetlink + ACK", netlink, anchor: ("`tc class change` (process)", tcCommand))
report("anchor: `tc class change` (process)", tcCommand)

// 2. Applies through the Enforcer: plan, order, write, bookkeeping.
let stateFile = NSTemporaryDirectory() + tag + "/state.json"
let enforcer = try Enforcer.forThisHost(stateFilePath: stateFile)
let capacityCores = Double(host.cores.count)
func partition(_ variant: Int, changed: Set<Int>) -> [TenantState] {
    (0..<tenantCount).map { tenant in
        let bump = changed.contains(tenant) ? Double(variant % 2) : 0
        return TenantState(
            name: "t\(tenant)", cgroupPath: cgroupPaths[tenant],
            settings: CgroupSettings(
                cpuQuotaCores: (capacityCores * 0.9 / Double(tenantCount)) * (bump == 0 ? 1 : 0.5),
                memoryMaxBytes: 64 * 1_048_576 * (bump == 0 ? 1 : 0.75)
            )
        )
    }
}
try enforcer.apply(partition(0, changed: []))
let all = Set(0..<tenantCount)
// Requests are built before timing: the figures are Enforce's own cost.
let fullDiffs = [partition(1, changed: all), partition(0, changed: all)]
let full = try measure(max(20, runs / 10)) { try enforcer.apply(fullDiffs[$0 % 2]) }
// The same 128 writes, straight (the floor any apply pays).
let fullRaw = try measure(max(20, runs / 10)) { run in
    let scale = run % 2 == 0 ? 0.5 : 1
    for path in cgroupPaths {
        try files.write(String(Int(capacityCores * 0.9 / Double(tenantCount) * scale * 100_000)), to: "/sys/fs/cgroup/cpu/\(path)/cpu.cfs_quota_us")
        try files.write(String(Int(64 * 1_048_576 * (run % 2 == 0 ? 0.75 : 1))), to: "/sys/fs/cgroup/memory/\(path)/memory.limit_in_bytes")
    }
}
try enforcer.apply(partition(0, changed: []))
let tickRequests = (0..<runs).map { run in
    partition(run % 2 + 1, changed: [run % tenantCount, (run * 7 + 3) % tenantCount, (run * 13 + 5) % tenantCount])
}
let tick = try measure(runs) { try enforcer.apply(tickRequests[$0]) }
// The same ticks, passing only the tenants whose request changed (tenants not passed stay as they are).
try enforcer.apply(partition(0, changed: []))
let changedOnly = (0..<runs).map { run in
    [run % tenantCount, (run * 7 + 3) % tenantCount, (run * 13 + 5) % tenantCount].map { tickRequests[run][$0] }
}
let tickChangedOnly = try measure(runs) { try enforcer.apply(changedOnly[$0]) }
let steady = partition(0, changed: [])
try enforcer.apply(steady)
let unchanged = try measure(runs) { _ in try enforcer.apply(steady) }
let tickRaw = try measure(runs) { run in
    for tenant in [run % tenantCount, (run * 7 + 3) % tenantCount, (run * 13 + 5) % tenantCount] {
        try files.write(run % 2 == 0 ? "140625" : "281250", to: "/sys/fs/cgroup/cpu/\(cgroupPaths[tenant])/cpu.cfs_quota_us")
        try files.write(run % 2 == 0 ? "50331648" : "67108864", to: "/sys/fs/cgroup/memory/\(cgroupPaths[tenant])/memory.limit_in_bytes")
    }
}
print("\n# Enforcer.apply of \(tenantCount) tenants (quota + memory limit each)")
report("64-tenant diff (128 writes)", full, anchor: ("the same 128 raw writes", fullRaw))
report("anchor: the same 128 raw writes", fullRaw)
report("typical tick: 3 tenants changed (≈6 writes)", tick, anchor: ("≈6 raw writes", tickRaw))
report("typical tick, only the 3 changed passed", tickChangedOnly, anchor: ("≈6 raw writes", tickRaw))
report("anchor: ≈6 raw writes", tickRaw)
report("no change (diff only, no write)", unchanged)
enforcer.restore()

// 3. Applies that change egress ceilings: the tenants' HTB classes on veth-b, steered by the BPF classifier.
let classifier = try BPFClassifier(unifiedMountPoint: "/sys/fs/cgroup/unified")
let shapedEnforcer = try Enforcer.forThisHost(
    stateFilePath: NSTemporaryDirectory() + tag + "/shaped-state.json",
    bandwidth: try TrafficShaper(namespacePath: "/var/run/netns/\(namespace)", linkBitsPerSecond: ["veth-b": 1e9], classifier: classifier)
)
func shapedPartition(_ variant: Int, changed: [Int]) -> [TenantState] {
    (0..<tenantCount).map { tenant in
        let ceil = changed.contains(tenant) && variant % 2 == 1 ? 5e6 : 10e6
        return TenantState(
            name: "t\(tenant)", cgroupPath: cgroupPaths[tenant], bandwidthBitsPerSecond: ["veth-b": ceil],
            guaranteed: ResourceVector(networkBitsPerSecond: 1e6)
        )
    }
}
try shapedEnforcer.apply(shapedPartition(0, changed: []))
let shapedTicks = (0..<runs).map { run in
    shapedPartition(run % 2 + 1, changed: [run % tenantCount, (run * 7 + 3) % tenantCount, (run * 13 + 5) % tenantCount])
}
let shapedTick = try measure(runs) { try shapedEnforcer.apply(shapedTicks[$0]) }
let shapedAll = [shapedPartition(1, changed: Array(0..<tenantCount)), shapedPartition(0, changed: [])]
let shapedFull = try measure(max(20, runs / 10)) { try shapedEnforcer.apply(shapedAll[$0 % 2]) }
print("\n# Enforcer.apply of \(tenantCount) shaped tenants (HTB ceiling per tenant on veth-b, BPF classifier)")
report("typical tick: 3 ceilings changed (3 messages)", shapedTick, anchor: ("one HTB rate change", netlink))
report("64-tenant ceiling diff (64 messages)", shapedFull, anchor: ("one HTB rate change", netlink))
shapedEnforcer.restore()
try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + tag)
