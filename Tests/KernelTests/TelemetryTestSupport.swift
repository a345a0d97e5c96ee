import Foundation
import Glibc

/// A cgroup v2 directory `dpm-test-<random>` that the telemetry tests create and remove (also on failure).
final class TelemetryTestCgroup {
    static let v2Root = "/sys/fs/cgroup/unified"
    let path: String

    init() throws {
        path = "\(Self.v2Root)/dpm-test-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(path, 0o755) == 0 else { throw TelemetryTestError("mkdir \(path): errno \(errno)") }
    }

    deinit {
        // Processes the test started here have exited; retry briefly while the kernel finishes reaping them.
        for _ in 0..<100 where rmdir(path) != 0 && errno == EBUSY { usleep(10_000) }
    }
}

struct TelemetryTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Paths of the executables this package builds (beside the test bundle).
enum TelemetryTestProducts {
    static var directory: URL {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.pathExtension != "xctest" && url.path != "/" { url.deleteLastPathComponent() }
        return url.deletingLastPathComponent()
    }
    static var dpm: String { directory.appendingPathComponent("dpm").path }
    static var load: String { directory.appendingPathComponent("TelemetryLoad").path }
}

/// The result of a finished child process.
struct TelemetryTestRun {
    let status: Int32
    let output: String
    let errorOutput: String
}

/// Runs an executable to completion and collects its output.
@discardableResult
func telemetryTestRun(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws
    -> TelemetryTestRun
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = Pipe()
    let errorOutput = Pipe()
    process.standardOutput = output
    process.standardError = errorOutput
    try process.run()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = errorOutput.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return TelemetryTestRun(
        status: process.terminationStatus,
        output: String(decoding: outputData, as: UTF8.self),
        errorOutput: String(decoding: errorData, as: UTF8.self)
    )
}

/// A fresh pin directory for one test, so tests never touch the agent's `/sys/fs/bpf/dpm`.
func telemetryTestPinDirectory() -> String {
    "/sys/fs/bpf/dpm-test-\(UInt32.random(in: 0...UInt32.max))"
}

func telemetryTestSleep(milliseconds: Int) {
    usleep(useconds_t(milliseconds * 1000))
}
