// Discovery benchmark: N real containers started and stopped in a row against podman's Docker API.
//
// Measures, per container, how long after `podman run -d` is called the container is in the merged tenant table
// (start latency) and how long after `podman stop` is called it is gone (stop latency); the anchor is the duration of
// the podman command itself in the same run. Samples this process's open file descriptors and resident memory every
// 10 containers to show whether they stay flat. Prints what it measured; never passes or fails.
//
// Usage (root): discover-benchmark SOCKET IMAGE [COUNT]   (Benchmarks/discover/run.sh sets up both)
import Discover
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: discover-benchmark SOCKET IMAGE [COUNT]\n".utf8))
    exit(2)
}
let socketPath = arguments[1], image = arguments[2]
let count = arguments.count > 3 ? Int(arguments[3]) ?? 100 : 100
let prefix = "dpm-bench-\(UInt32.random(in: 0...UInt32.max))"

/// Runs podman and waits; output is discarded (a detached container's conmon would hold a pipe open).
func podman(_ arguments: [String]) -> Double {
    let started = DispatchTime.now().uptimeNanoseconds
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/podman")
    process.arguments = arguments
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { fatalError("cannot run podman: \(error)") }
    process.waitUntilExit()
    if process.terminationStatus != 0 { fatalError("podman \(arguments.joined(separator: " ")) exited \(process.terminationStatus)") }
    return Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
}

func openFileDescriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }

func residentKiB() -> Int {
    let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
    let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
}

/// Polls the discovery's table every millisecond until `condition` holds; returns milliseconds since `since`.
func waitFor(_ discovery: Discovery, since: UInt64, timeoutSeconds: Double = 10, _ condition: (TenantTable) -> Bool) async -> Double {
    let deadline = since + UInt64(timeoutSeconds * 1e9)
    while DispatchTime.now().uptimeNanoseconds < deadline {
        if condition(await discovery.table) { break }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return Double(DispatchTime.now().uptimeNanoseconds - since) / 1e6
}

func summary(_ values: [Double]) -> String {
    let sorted = values.sorted()
    func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))] }
    return String(format: "median %.1f ms, p99 %.1f ms, max %.1f ms (n=%d)", at(0.5), at(0.99), sorted.last ?? 0, sorted.count)
}

let discovery = Discovery(sources: [DockerSource(socketPath: socketPath)])
let runner = Task { await discovery.run() }
_ = await waitFor(discovery, since: DispatchTime.now().uptimeNanoseconds, timeoutSeconds: 2) { _ in false }

var startLatency: [Double] = [], stopLatency: [Double] = [], runCommand: [Double] = [], stopCommand: [Double] = []
var samples: [(containers: Int, fds: Int, rssKiB: Int)] = [(0, openFileDescriptors(), residentKiB())]
for index in 0..<count {
    let name = "\(prefix)-\(index)"
    var since = DispatchTime.now().uptimeNanoseconds
    runCommand.append(podman(["--runtime", "/usr/sbin/runc", "run", "-d", "--network", "none", "--ulimit", "nofile=1024:1024",
                              "--ulimit", "nproc=1024:1024", "--name", name, "--label", "dpm.class=best-effort", image, "sleep", "1000"]))
    startLatency.append(await waitFor(discovery, since: since) { $0[name] != nil })
    since = DispatchTime.now().uptimeNanoseconds
    stopCommand.append(podman(["stop", "-t", "0", name]))
    stopLatency.append(await waitFor(discovery, since: since) { $0[name] == nil })
    _ = podman(["rm", "-f", name])
    if (index + 1) % 10 == 0 { samples.append((index + 1, openFileDescriptors(), residentKiB())) }
}
runner.cancel()

print("discover-benchmark: \(count) containers started and stopped in a row, podman \(socketPath), runc, busybox image")
print("host: \(ProcessInfo.processInfo.activeProcessorCount) CPUs, load average \((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8).split(separator: " ").prefix(3).joined(separator: " ")) ?? "?")")
print("start → in table (from calling podman run -d): \(summary(startLatency))")
print("anchor: podman run -d command duration:         \(summary(runCommand))")
print("stop → retired (from calling podman stop -t 0): \(summary(stopLatency))")
print("anchor: podman stop -t 0 command duration:      \(summary(stopCommand))")
let sortedStart = startLatency.sorted(), sortedRun = runCommand.sorted()
print(String(format: "ratio start latency / podman run (medians): %.2f", sortedStart[sortedStart.count / 2] / sortedRun[sortedRun.count / 2]))
print("within 1 s: start \(startLatency.filter { $0 <= 1000 }.count)/\(count), stop \(stopLatency.filter { $0 <= 1000 }.count)/\(count)")
print("containers  open fds  RSS KiB")
for sample in samples { print(String(format: "%10d  %8d  %7d", sample.containers, sample.fds, sample.rssKiB)) }
