import Enforce
import Foundation
import Pool
import Testing

/// Threads pinned one by one (microVM vCPU threads) on the real kernel.
@Suite(.serialized) struct EnforceThreadKernelTests {
    /// The `Cpus_allowed_list` of a thread, from `/proc/TID/status`.
    func allowedCPUs(_ threadID: Int32) throws -> String {
        let status = try String(contentsOfFile: "/proc/\(threadID)/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
        return line.map { $0.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces) } ?? ""
    }

    /// The cpuset is left as it is (the same CPUs), so only the thread's own affinity changes, and restore must
    /// put it back itself: a cpuset restore would not touch it.
    @Test func restorePutsAPinnedThreadsAffinityBack() throws {
        let cgroup = try EnforceTestCgroup()
        defer { cgroup.remove() }
        let online = try #require(CPUSet(listFormat: try cgroup.read("cpuset", "cpuset.cpus")))
        let last = try #require(online.members.last)
        let vcpu = try cgroup.spawn("exec taskset -c \(last) sleep 30")
        let threadID = vcpu.processIdentifier
        for _ in 0..<200 where (try? allowedCPUs(threadID)) != "\(last)" { usleep(5_000) }
        #expect(try allowedCPUs(threadID) == "\(last)")

        let enforcer = try makeTestEnforcer()
        var tenant = TenantState(name: "vm", cgroupPath: cgroup.path, settings: CgroupSettings(cpus: online))
        tenant.pinnedThreadIDs = [threadID]
        try enforcer.apply([tenant])
        #expect(try allowedCPUs(threadID) == online.description)

        let report = enforcer.restore()
        #expect(report.failures.isEmpty)
        #expect(report.restoredThreadIDs == [threadID])
        #expect(try allowedCPUs(threadID) == "\(last)")
    }
}
