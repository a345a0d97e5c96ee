import CLoop
import Foundation
import Glibc
import Testing

/// A tenant cgroup of the agent's kernel tests: `dpm-test-<random>/<name>` created in every v1 hierarchy the agent
/// uses and in the v2 one, removed (its processes killed first) by `remove()`, which the tests call in `defer`.
struct AgentTestCgroups {
    static let root = "/sys/fs/cgroup"
    static let hierarchies = ["cpu", "cpuacct", "cpuset", "memory", "unified"]
    let parent: String
    let names: [String]

    /// `parent` lets a test name the cgroups in a configuration before it creates them (default: a fresh name).
    init(names: [String], parent: String = "dpm-test-\(UInt32.random(in: 0...UInt32.max))") throws {
        self.parent = parent
        self.names = names
        for hierarchy in Self.hierarchies where FileManager.default.fileExists(atPath: "\(Self.root)/\(hierarchy)") {
            for path in [parent] + names.map({ "\(parent)/\($0)" }) {
                let directory = "\(Self.root)/\(hierarchy)/\(path)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
                if hierarchy == "cpu" {
                    // cyclictest sets its main thread real-time, which a v1 cpu child cgroup refuses without an
                    // rt_runtime budget of its own (parent first).
                    try write("\(directory)/cpu.rt_runtime_us", path == parent ? "\(10_000 * names.count)" : "10000")
                }
                if hierarchy == "cpuset" {
                    // A v1 cpuset starts empty: inherit the parent's CPUs and memory nodes so tasks can join.
                    let up = (directory as NSString).deletingLastPathComponent
                    try write("\(directory)/cpuset.cpus", try read("\(up)/cpuset.cpus"))
                    try write("\(directory)/cpuset.mems", try read("\(up)/cpuset.mems"))
                }
            }
        }
    }

    /// The tenant's cgroup path relative to the cgroup root (what the configuration names).
    func path(_ name: String) -> String { "\(parent)/\(name)" }

    func directory(_ name: String, hierarchy: String) -> String { "\(Self.root)/\(hierarchy)/\(path(name))" }

    /// Starts `command` (via /bin/sh) inside the tenant's cgroups; returns its pid.
    func spawn(_ name: String, _ command: String) throws -> pid_t {
        try start(name, command).processIdentifier
    }

    /// Starts `command` (via /bin/sh) inside the tenant's cgroups.
    func start(_ name: String, _ command: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The shell joins the cgroups first, then becomes the command, so every thread it starts is inside.
        let joins = Self.hierarchies.filter { FileManager.default.fileExists(atPath: "\(Self.root)/\($0)") }
            .map { "echo $$ > \(directory(name, hierarchy: $0))/cgroup.procs" }.joined(separator: " && ")
        process.arguments = ["-c", "\(joins) && exec \(command)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        usleep(100_000)
        return process
    }

    /// Kills every process in the tenants and removes the directories, leaves first.
    func remove() {
        for hierarchy in Self.hierarchies {
            for name in names {
                let directory = directory(name, hierarchy: hierarchy)
                killAll(in: directory)
                rmdir(directory)
            }
            rmdir("\(Self.root)/\(hierarchy)/\(parent)")
        }
    }

    func removeTenant(_ name: String) {
        for hierarchy in Self.hierarchies {
            killAll(in: directory(name, hierarchy: hierarchy))
        }
        usleep(50_000)
        for hierarchy in Self.hierarchies { rmdir(directory(name, hierarchy: hierarchy)) }
    }

    private func killAll(in directory: String) {
        for _ in 0..<50 {
            let pids = ((try? read("\(directory)/cgroup.procs")) ?? "").split(separator: "\n").compactMap { Int32($0) }
            if pids.isEmpty { return }
            for pid in pids { kill(pid, SIGKILL) }
            usleep(20_000)
        }
    }
}

func read(_ path: String) throws -> String {
    try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
}

func write(_ path: String, _ value: String) throws {
    try value.write(toFile: path, atomically: false, encoding: .utf8)
}

/// The `dpm` binary that `swift build` made beside the tests.
func dpmBinary() -> String {
    let products = Bundle.main.bundleURL.deletingLastPathComponent().path
    let candidates = [products + "/dpm", URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/dpm").path]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
}

/// Runs a command to completion; returns its exit status and what it wrote to stdout and stderr.
func runCommand(_ executable: String, _ arguments: [String], timeoutSeconds: Double = 60) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe(), error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
    return (
        process.terminationStatus,
        String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
        String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    )
}

/// A `dpm run` process of the agent's kernel tests, with its own socket and state directory.
final class AgentProcess {
    let process = Process()
    let directory: String
    let socketPath: String
    let logPath: String

    /// Writes a configuration with `tenants` (lines of the `tenants:` list) and `extra` top-level lines, and starts
    /// the agent.
    init(tenants: [String], sources: [String] = [], extra: [String] = [], dryRun: Bool = false, directory existing: String? = nil) throws {
        directory = existing ?? NSTemporaryDirectory() + "dpm-test-agent-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socketPath = "\(directory)/control.sock"
        // A killed agent leaves its socket file behind; wait for the new one.
        unlink(socketPath)
        logPath = "\(directory)/agent-\(UInt32.random(in: 0...UInt32.max)).log"
        let config = """
        tick: 1ms
        reserve: {cores: [0]}
        control_socket: \(socketPath)
        state_dir: \(directory)/state
        metrics_port: off
        \(sources.isEmpty ? "" : "sources: [\(sources.joined(separator: ", "))]")
        \(extra.joined(separator: "\n"))
        tenants:
        \(tenants.map { "  - \($0)" }.joined(separator: "\n"))
        """
        try config.write(toFile: "\(directory)/dpm.yaml", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: dpmBinary())
        process.arguments = ["run", "--config", "\(directory)/dpm.yaml"] + (dryRun ? ["--dry-run"] : [])
        process.standardError = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socketPath) && process.isRunning { usleep(50_000) }
        guard FileManager.default.fileExists(atPath: socketPath) else {
            // Never leave an agent behind: a test that cannot reach it cannot stop it either.
            stop(SIGKILL)
            throw AgentTestError.didNotStart(log: log)
        }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func status() throws -> StatusReport { try ControlClient.status(socketPath: socketPath) }

    /// Polls the status until `condition` holds or `seconds` pass; returns the last status.
    @discardableResult
    func wait(seconds: Double, until condition: (StatusReport) -> Bool) throws -> StatusReport {
        let deadline = Date().addingTimeInterval(seconds)
        var last = try status()
        while !condition(last) && Date() < deadline {
            usleep(50_000)
            last = try status()
        }
        return last
    }

    /// Sends `signal` and waits for the process to end.
    func stop(_ signal: Int32 = SIGTERM) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }

    func removeDirectory() { try? FileManager.default.removeItem(atPath: directory) }
}

enum AgentTestError: Error { case didNotStart(log: String) }

/// The control files dpm manages on this host's v1 hierarchies, for tenants of `cgroups`, with their contents.
func controlFiles(_ cgroups: AgentTestCgroups) -> [String: String] {
    var files: [String: String] = [:]
    for name in cgroups.names {
        for (hierarchy, file) in [("cpuset", "cpuset.cpus"), ("cpuset", "cpuset.mems"), ("cpu", "cpu.cfs_quota_us"), ("cpu", "cpu.cfs_period_us"),
                                  ("cpu", "cpu.shares"), ("cpu", "cpu.idle"), ("memory", "memory.limit_in_bytes"), ("memory", "memory.soft_limit_in_bytes")] {
            let path = "\(cgroups.directory(name, hierarchy: hierarchy))/\(file)"
            if let value = try? read(path) { files[path] = value }
        }
    }
    return files
}
