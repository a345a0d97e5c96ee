import Enforce
import Foundation
import Pool
import Testing

/// Host topology, per-thread affinity and page migration against the real kernel (one NUMA node here).
@Suite(.serialized) struct EnforceTopologyKernelTests {
    @Test func readsTheHostTopology() throws {
        let host = try TopologyReader(files: ControlFiles()).hostCapacity()
        let online = try String(contentsOfFile: "/sys/devices/system/cpu/online", encoding: .utf8)
        #expect(CPUSet(host.cores.map(\.id)) == CPUSet(listFormat: online.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(host.memoryBytesPerNode.count >= 1)
        #expect(host.memoryBytesPerNode[0] > 0)
        #expect(try host.validate() == ())
    }

    @Test func pinsAThreadByItsIdAndMigratesWithinTheOnlyNode() throws {
        let cgroup = try EnforceTestCgroup()
        defer { cgroup.remove() }
        let process = try cgroup.spawn("exec sleep 30")
        let thread = process.processIdentifier
        let enforcer = try makeTestEnforcer()
        defer { enforcer.restore() }
        var vm = TenantState(name: "vm", cgroupPath: cgroup.path, exclusive: true, settings: CgroupSettings(cpus: [0, 1]))
        vm.pinnedThreadIDs = [thread]
        try enforcer.apply([vm])
        vm.settings.cpus = [1]
        try enforcer.apply([vm])
        let status = try String(contentsOfFile: "/proc/\(thread)/status", encoding: .utf8)
        #expect(status.contains("Cpus_allowed_list:\t1\n"))
        // One node: moving pages from node 0 to node 0 is the real call with nothing to move.
        #expect(LinuxKernel().migratePages(processID: thread, fromNodes: [0], toNodes: [0]) == 0)
        #expect(LinuxKernel().migratePages(processID: thread, fromNodes: [0], toNodes: [4095]) == EINVAL)
        #expect(LinuxKernel().setThreadAffinity(threadID: thread, cpus: [4096]) == EINVAL)
    }
}
