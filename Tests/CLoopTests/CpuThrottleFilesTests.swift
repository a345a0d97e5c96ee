import Foundation
import Testing

@testable import CLoop

/// The throttle reads against a `cpu.stat` in a directory of the test's own (a root without `cpu/`, read as cgroup
/// v2: `throttled_usec`).
@Suite struct CpuThrottleFilesTests {
    /// A watched slot is read every 8th drain: the first read sets its baseline, each later one shows what the kernel
    /// added since the previous read; a slot no longer watched loses its baseline, so a new watch starts afresh.
    @Test func aWatchedSlotShowsTheThrottlingAddedSinceItsPreviousRead() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dpm-test-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: root + "/t", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        func report(throttledMicroseconds: Int) throws {
            try "usage_usec 5000\nthrottled_usec \(throttledMicroseconds)\n".write(toFile: root + "/t/cpu.stat", atomically: false, encoding: .utf8)
        }
        try report(throttledMicroseconds: 0)
        let files = CpuThrottleFiles(cgroupRoot: root, capacity: 2)
        files.attach(slot: 1, cgroupPath: "t")
        let frame = TelemetryFrame(capacity: 2)
        frame.watchesThrottling[1] = true
        var now: UInt64 = 0
        // Drains at 1 ms; returns the throttled time the frame showed over them (ns).
        func drain(_ count: Int) -> UInt64 {
            var shown: UInt64 = 0
            for _ in 0..<count {
                now += 1_000_000
                frame.throttledNanoseconds[1] = 0
                files.read(into: frame, nowNanoseconds: now)
                shown += frame.throttledNanoseconds[1]
            }
            return shown
        }
        #expect(drain(8) == 0, "the first read sets the baseline")
        try report(throttledMicroseconds: 50_000)
        #expect(drain(8) == 50_000_000, "read on the 16th drain")
        try report(throttledMicroseconds: 60_000)
        #expect(drain(7) == 0, "read only every 8th drain")
        #expect(drain(1) == 10_000_000)
        frame.watchesThrottling[1] = false
        #expect(drain(8) == 0)
        try report(throttledMicroseconds: 90_000)
        frame.watchesThrottling[1] = true
        #expect(drain(8) == 0, "a new watch sets its baseline first")
        try report(throttledMicroseconds: 95_000)
        #expect(drain(8) == 5_000_000)
    }
}
