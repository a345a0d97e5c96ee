import Foundation
import Testing

@testable import CLoop

/// The throttle reads against a `cpu.stat` in a directory of the test's own (a root without `cpu/`, read as cgroup
/// v2: `throttled_usec`).
@Suite struct CpuThrottleFilesTests {
    /// A tenant held at its quota reports once a period: after a report its file is not read again until the next
    /// period's report is near, and what was reported in between is read then, not lost.
    @Test func aSlotThatJustReportedIsNotReadAgainUntilItsNextPeriodNears() throws {
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
        // The kernel's slack timer unthrottles it mid-period: 10 ms more, which waits for the next period's read.
        try report(throttledMicroseconds: 60_000)
        #expect(drain(80) == 0, "read within 84 ms of the report")
        #expect(drain(8) == 10_000_000)
    }
}
