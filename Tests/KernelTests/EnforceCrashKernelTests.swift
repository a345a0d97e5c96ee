import Enforce
import Foundation
import Pool
import Testing

/// `dpm apply` killed with SIGKILL at random points of a large apply: every state it leaves must satisfy capacity
/// and every guarantee, because the writes are ordered so that every prefix is valid.
@Suite(.serialized) struct EnforceCrashKernelTests {
    /// At Enforce's 10 ms CFS period the smallest quota is 0.1 core: each tenant's smaller share, 0.7 of 96% of the
    /// CPUs over the tenants (0.11 core on 2 CPUs), must stay above it (48 tenants at the 100 ms period).
    static let tenantCount = 12

    @Test func killingTheApplyAnywhereLeavesAValidPartition() throws {
        let parent = "dpm-test-\(UInt32.random(in: 0...UInt32.max))"
        var cgroups: [EnforceTestCgroup] = []
        defer { for cgroup in cgroups { cgroup.remove() } }
        for index in 0..<Self.tenantCount { cgroups.append(try EnforceTestCgroup("t\(index)", parent: parent)) }
        let directory = NSTemporaryDirectory() + parent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let stateFile = directory + "/state.json"

        // Two partitions that fill 96% of the CPU and 95% of the memory; each tenant's share swaps between them,
        // so applying one over the other in the wrong order (a grow before a shrink) would overflow the host.
        let host = try TopologyReader(files: ControlFiles()).hostCapacity()
        let limits = PartitionLimits(host: host)
        let cpuEach = 0.96 * Double(limits.onlineCPUs.count) / Double(Self.tenantCount)
        let memoryEach = (0.95 * limits.memoryBytes / Double(Self.tenantCount) / 4096).rounded(.down) * 4096
        func document(_ flip: Bool) -> (path: String, tenants: [TenantState]) {
            let tenants = cgroups.enumerated().map { index, cgroup in
                let large = (index % 2 == 0) != flip
                return TenantState(
                    name: "t\(index)", cgroupPath: cgroup.path,
                    settings: CgroupSettings(
                        cpuQuotaCores: (cpuEach * (large ? 1.3 : 0.7) * 100_000).rounded() / 100_000,
                        memoryMaxBytes: ((memoryEach * (large ? 1.3 : 0.7)) / 4096).rounded(.down) * 4096
                    ),
                    guaranteed: ResourceVector(cpuCores: cpuEach * 0.7, memoryBytes: memoryEach * 0.5)
                )
            }
            let json = tenants.map { tenant in
                """
                {"cgroup": "\(tenant.cgroupPath)", "name": "\(tenant.name)", "cpu_quota_cores": \(tenant.settings.cpuQuotaCores!), \
                "memory_max_bytes": \(Int64(tenant.settings.memoryMaxBytes!)), \
                "guaranteed": {"cpu_cores": \(tenant.guaranteed.cpuCores), "memory_bytes": \(tenant.guaranteed.memoryBytes)}}
                """
            }
            let path = directory + (flip ? "/b.json" : "/a.json")
            try? "{\"tenants\": [\(json.joined(separator: ",\n"))]}".write(toFile: path, atomically: true, encoding: .utf8)
            return (path, tenants)
        }
        let documents = [document(false), document(true)]

        func runApply(_ path: String) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: dpmExecutable())
            process.arguments = ["apply", "--state-file", stateFile, path]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            return process
        }
        let kernel = LinuxKernel()
        func quotaFile(_ index: Int) -> String { cgroups[index].directory("cpu") + "/cpu.cfs_quota_us" }
        func read(_ path: String) -> String { (try? kernel.read(path).get()) ?? "" }

        let first = try runApply(documents[0].path)
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)

        // Measure the write phase once: from the first shrink (an odd tenant's quota) to the last grow.
        var writePhaseNanoseconds = 2_000_000.0
        do {
            let watched = quotaFile(1), last = cgroups[Self.tenantCount - 2].directory("memory") + "/memory.limit_in_bytes"
            let before = read(watched), lastBefore = read(last)
            let process = try runApply(documents[1].path)
            while read(watched) == before && process.isRunning { usleep(20) }
            let began = DispatchTime.now().uptimeNanoseconds
            while read(last) == lastBefore && process.isRunning { usleep(20) }
            writePhaseNanoseconds = max(100_000, Double(DispatchTime.now().uptimeNanoseconds - began))
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }

        var interrupted = 0
        for trial in 0..<100 {
            let target = documents[trial % 2]
            // The first write of each direction is the first shrinking tenant's quota: tenant 0 or 1.
            let watched = quotaFile(trial % 2 == 0 ? 0 : 1)
            let before = read(watched)
            let process = try runApply(target.path)
            while read(watched) == before && process.isRunning { usleep(20) }
            let delay = Double.random(in: 0...(1.2 * writePhaseNanoseconds))
            let until = DispatchTime.now().uptimeNanoseconds + UInt64(delay)
            while DispatchTime.now().uptimeNanoseconds < until {}
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()

            let enforcer = Enforcer(files: ControlFiles(), backend: .v1Hybrid, limits: limits, stateFilePath: stateFile + ".check")
            let states = try target.tenants.map { tenant in
                var state = try enforcer.readKernelState(of: tenant)
                state.guaranteed = tenant.guaranteed
                return state
            }
            let violations = PartitionState(tenants: states, limits: limits).violations
            #expect(violations.isEmpty, "trial \(trial): \(violations.prefix(3))")
            if states.map(\.settings) != target.tenants.map(\.settings) { interrupted += 1 }
        }
        #expect(interrupted > 0, "no trial interrupted the apply (write phase \(writePhaseNanoseconds) ns)")

        let restore = Process()
        restore.executableURL = URL(fileURLWithPath: dpmExecutable())
        restore.arguments = ["restore", "--state-file", stateFile]
        restore.standardOutput = FileHandle.nullDevice
        try restore.run()
        restore.waitUntilExit()
        #expect(restore.terminationStatus == 0)
        #expect(cgroups.allSatisfy { (try? $0.read("cpu", "cpu.cfs_quota_us")) == "-1" })
        #expect(cgroups.allSatisfy { (try? $0.read("memory", "memory.limit_in_bytes")) == "9223372036854771712" })
    }
}

extension CgroupBackend {
    static let v1Hybrid = CgroupBackend(
        version: .v1,
        mountPoints: ["cpu": "/sys/fs/cgroup/cpu", "cpuset": "/sys/fs/cgroup/cpuset", "memory": "/sys/fs/cgroup/memory"],
        unifiedMountPoint: "/sys/fs/cgroup/unified"
    )
}
