import Enforce
import Foundation
import Pool

/// A cgroup the test made, `dpm-test-<random>/<name>`, in the cpuset, cpu and memory v1 hierarchies (and the v2
/// one), with its cpuset initialized from the parent so tasks may join. `remove()` kills the test's own processes
/// in it and removes the directories.
final class EnforceTestCgroup {
    static let hierarchies = ["cpuset", "cpu", "memory", "unified"]
    let path: String
    private var processes: [Process] = []

    init(_ name: String = "t", parent: String = "dpm-test-\(UInt32.random(in: 0...UInt32.max))") throws {
        path = parent + "/" + name
        for hierarchy in Self.hierarchies {
            try FileManager.default.createDirectory(atPath: "/sys/fs/cgroup/\(hierarchy)/\(path)", withIntermediateDirectories: true)
        }
        for level in [parent, path] {
            for file in ["cpuset.mems", "cpuset.cpus"] {
                let value = try String(contentsOfFile: "/sys/fs/cgroup/cpuset/\(file)", encoding: .utf8)
                try value.write(toFile: "/sys/fs/cgroup/cpuset/\(level)/\(file)", atomically: false, encoding: .utf8)
            }
        }
    }

    func directory(_ hierarchy: String) -> String { "/sys/fs/cgroup/\(hierarchy)/\(path)" }

    func read(_ hierarchy: String, _ file: String) throws -> String {
        try String(contentsOfFile: directory(hierarchy) + "/" + file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts `sh -c SCRIPT` after the shell has moved itself into this cgroup in every hierarchy.
    @discardableResult
    func spawn(_ script: String) throws -> Process {
        let join = Self.hierarchies.map { "echo $$ > \(directory($0))/cgroup.procs" }.joined(separator: " && ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "\(join) && \(script)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        processes.append(process)
        // Wait until the shell is in the cgroup (its pid shows in cgroup.procs).
        for _ in 0..<200 where !((try? read("memory", "cgroup.procs")) ?? "").split(separator: "\n").contains(Substring(String(process.processIdentifier))) {
            usleep(5_000)
        }
        return process
    }

    func remove() {
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        for hierarchy in Self.hierarchies {
            for directory in [directory(hierarchy), (directory(hierarchy) as NSString).deletingLastPathComponent] {
                for _ in 0..<100 where rmdir(directory) != 0 && errno == EBUSY { usleep(10_000) }
            }
        }
    }
}

/// An Enforcer for this host with its own state file, so tests never share or leave a baseline behind.
func makeTestEnforcer(bandwidth: (any BandwidthControl)? = nil) throws -> Enforcer {
    let stateFile = NSTemporaryDirectory() + "dpm-test-\(UInt32.random(in: 0...UInt32.max))/enforce-state.json"
    return try Enforcer.forThisHost(stateFilePath: stateFile, bandwidth: bandwidth)
}

/// Nanoseconds a process has run on a CPU (first field of `/proc/PID/schedstat`).
func cpuNanoseconds(of processID: Int32) throws -> Double {
    let text = try String(contentsOfFile: "/proc/\(processID)/schedstat", encoding: .utf8)
    return Double(text.split(separator: " ")[0]) ?? 0
}

/// The `dpm` executable SwiftPM built next to the test bundle.
func dpmExecutable() -> String {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("dpm").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory.deleteLastPathComponent()
    }
    return FileManager.default.currentDirectoryPath + "/.build/debug/dpm"
}
