import CLoop
import Enforce
import Foundation
import Glibc
import Testing

/// The agent reacting to a tenant that starts spinning, on the real kernel: `dpm run` with BPF telemetry, Predict,
/// Solve and Enforce on tenant cgroups of its own (`dpm-test-<random>`), removed also on failure. The bound is
/// generous, for a loaded CI machine; the reaction time itself is measured by Benchmarks/agent/run.sh.
@Suite(.serialized) struct AgentReactionKernelTests {
    /// A burstable tenant idles at its 0.1-core guarantee (quota 1 ms per Enforce's 10 ms period); a spinner starts
    /// in it. Held by that quota, its usage alone cannot show it wants more (spending its whole quota in a period
    /// and, at the period's end, its throttled time do): the agent must raise its quota, read back from
    /// cpu.cfs_quota_us.
    @Test func aBurstableSpinnerHeldAtItsGuaranteeGetsALargerQuotaWithinASecond() throws {
        let cgroups = try AgentTestCgroups(names: ["burst", "be"])
        defer { cgroups.remove() }
        _ = try cgroups.spawn("burst", "sleep 60")
        _ = try cgroups.spawn("be", "sleep 60")
        let agent = try AgentProcess(tenants: [
            "{name: burst, cgroup: \(cgroups.path("burst")), class: burstable, guaranteed: {cpu: 0.1}, cap: {cpu: 1}}",
            "{name: be, cgroup: \(cgroups.path("be")), class: best-effort}",
        ])
        defer {
            agent.stop()
            agent.removeDirectory()
        }
        let quotaFile = cgroups.directory("burst", hierarchy: "cpu") + "/cpu.cfs_quota_us"
        func quotaMicroseconds() -> Int { Int((try? read(quotaFile))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -2 }
        // Idle for a second and a half: the forecast settles at the idle floor and the quota at the guarantee.
        try agent.wait(seconds: 10) { $0.loop.ticks > 1500 && $0.tenants.contains { $0.name == "burst" } }
        let guarantee = CgroupBackend.quotaMicroseconds(0.1)
        #expect(quotaMicroseconds() == guarantee, "idle burstable tenant not at its guarantee: \(agent.log)")

        let started = Date()
        // `spawn` returns 100 ms after the spinner started; the bound counts from before it.
        _ = try cgroups.spawn("burst", "sh -c 'while :; do :; done'")
        var quota = quotaMicroseconds()
        while quota <= guarantee, Date().timeIntervalSince(started) < 1.1 {
            usleep(2_000)
            quota = quotaMicroseconds()
        }
        let seconds = Date().timeIntervalSince(started)
        #expect(quota > guarantee, "quota still \(quota) us after \(seconds) s\n\(agent.log)")
        #expect(seconds < 1.1)
    }
}
