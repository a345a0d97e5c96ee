import Enforce
import Foundation
import Pool
import Testing

/// A best-effort tenant at idle priority (`cpu.idle = 1`, written by Enforce) sharing the core a latency-critical
/// tenant owns: the owner keeps nearly all of the core while it spins, and the best-effort tenant runs while the
/// owner sleeps. Sibling cgroups of this test's own (`dpm-test-<random>/lc`, `…/be`), removed in defer.
@Suite(.serialized) struct EnforceIdleKernelTests {
    /// Each process's share of one core over `microseconds`, from its run time in `/proc/PID/schedstat`.
    func shares(of processes: [Process], over microseconds: UInt32) throws -> [Double] {
        let before = try processes.map { try cpuNanoseconds(of: $0.processIdentifier) }
        let began = DispatchTime.now().uptimeNanoseconds
        usleep(microseconds)
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - began)
        return try zip(processes, before).map { process, start in (try cpuNanoseconds(of: process.processIdentifier) - start) / elapsed }
    }

    @Test func anIdleTenantOnAnOwnedCoreRunsOnlyWhenTheOwnerSleeps() throws {
        let parent = "dpm-test-\(UInt32.random(in: 0...UInt32.max))"
        let lcGroup = try EnforceTestCgroup("lc", parent: parent)
        defer { lcGroup.remove() }
        let beGroup = try EnforceTestCgroup("be", parent: parent)
        defer { beGroup.remove() }
        let enforcer = try makeTestEnforcer()
        defer { enforcer.restore() }
        let core = 1
        try enforcer.apply([
            TenantState(name: "lc", cgroupPath: lcGroup.path, exclusive: true, settings: CgroupSettings(cpus: [core], cpuIdle: false)),
            TenantState(name: "be", cgroupPath: beGroup.path, settings: CgroupSettings(cpus: [core], cpuIdle: true)),
        ])
        #expect(try beGroup.read("cpu", "cpu.idle") == "1")
        #expect(try beGroup.read("cpuset", "cpuset.cpus") == "\(core)")

        let lc = try lcGroup.spawn("exec yes > /dev/null")
        let be = try beGroup.spawn("exec yes > /dev/null")
        usleep(300_000)
        let spinning = try shares(of: [lc, be], over: 2_000_000)
        #expect(spinning[0] >= 0.9, "the owner kept \(spinning[0]) of its core beside an idle-priority spinner")
        #expect(spinning[1] <= 0.05 * (spinning[0] + spinning[1]), "the idle-priority spinner took \(spinning[1]) of a core, the owner \(spinning[0])")

        kill(lc.processIdentifier, SIGSTOP)
        defer { kill(lc.processIdentifier, SIGCONT) }
        usleep(100_000)
        let sleeping = try shares(of: [lc, be], over: 1_000_000)
        #expect(sleeping[0] < 0.01)
        #expect(sleeping[1] >= 0.8, "the idle-priority spinner used only \(sleeping[1]) of the core its owner left idle")

        #expect(enforcer.restore().failures.isEmpty)
        #expect(try beGroup.read("cpu", "cpu.idle") == "0")
    }
}
