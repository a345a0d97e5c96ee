import Enforce
import Foundation
import Pool
import Testing

/// Enforce against the real kernel: v1 cgroups this test creates (`dpm-test-<random>`), removed in defer.
@Suite(.serialized) struct EnforceCgroupKernelTests {
    @Test func aProcessInTheTenantRunsOnItsCores() throws {
        let cgroup = try EnforceTestCgroup()
        defer { cgroup.remove() }
        let process = try cgroup.spawn("exec sleep 30")
        let enforcer = try makeTestEnforcer()
        try enforcer.apply([TenantState(name: "lc", cgroupPath: cgroup.path, exclusive: true, settings: CgroupSettings(cpus: [1]))])
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        let allowed = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
        #expect(allowed?.split(separator: "\t").last == "1")
        #expect(enforcer.restore().failures.isEmpty)
        let restored = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        #expect(restored.contains("Cpus_allowed_list:\t0-1"))
    }

    @Test func aCPUHogUnderAFifthOfACoreUsesAFifth() throws {
        let cgroup = try EnforceTestCgroup()
        defer { cgroup.remove() }
        let enforcer = try makeTestEnforcer()
        defer { enforcer.restore() }
        try enforcer.apply([TenantState(name: "hog", cgroupPath: cgroup.path, settings: CgroupSettings(cpuQuotaCores: 0.2))])
        let hog = try cgroup.spawn("exec yes > /dev/null")
        usleep(200_000)
        let start = try cpuNanoseconds(of: hog.processIdentifier)
        let began = DispatchTime.now().uptimeNanoseconds
        usleep(2_000_000)
        let used = try cpuNanoseconds(of: hog.processIdentifier) - start
        let share = used / Double(DispatchTime.now().uptimeNanoseconds - began)
        #expect(abs(share - 0.2) <= 0.05, "the hog used \(share) of a core")
    }

    @Test func aProcessAllocatingPastItsLimitIsHeldToIt() throws {
        let cgroup = try EnforceTestCgroup()
        defer { cgroup.remove() }
        let enforcer = try makeTestEnforcer()
        defer { enforcer.restore() }
        let limit = 64.0 * 1024 * 1024
        try enforcer.apply([TenantState(name: "mem", cgroupPath: cgroup.path, settings: CgroupSettings(memoryMaxBytes: limit))])
        // Tries to hold 256 MiB in a shell variable.
        let hog = try cgroup.spawn("x=$(head -c 268435456 /dev/zero | tr '\\0' a); sleep 1")
        hog.waitUntilExit()
        let peak = Double(try cgroup.read("memory", "memory.max_usage_in_bytes")) ?? .infinity
        let failures = Int(try cgroup.read("memory", "memory.failcnt")) ?? 0
        #expect(peak <= limit)
        #expect(peak > limit * 0.5, "the process did reach for its limit")
        #expect(failures > 0, "the kernel refused charges past the limit")
    }

    @Test func restorePutsEveryTouchedFileBack() throws {
        let cgroup = try EnforceTestCgroup()
        defer { cgroup.remove() }
        let files = [("cpuset", "cpuset.cpus"), ("cpu", "cpu.cfs_quota_us"), ("cpu", "cpu.shares"), ("cpu", "cpu.cfs_period_us"),
                     ("memory", "memory.limit_in_bytes"), ("memory", "memory.soft_limit_in_bytes")]
        try "50000".write(toFile: cgroup.directory("cpu") + "/cpu.cfs_period_us", atomically: false, encoding: .utf8)
        let before = try files.map { try cgroup.read($0.0, $0.1) }
        let enforcer = try makeTestEnforcer()
        let settings = CgroupSettings(cpus: [1], cpuQuotaCores: 0.5, cpuWeight: 300, memoryMaxBytes: 100_000_000, memoryHighBytes: 50_000_000)
        try enforcer.apply([TenantState(name: "t", cgroupPath: cgroup.path, exclusive: true, settings: settings)])
        #expect(try files.map { try cgroup.read($0.0, $0.1) } != before)
        #expect(try enforcer.detectDrift().isEmpty)
        let report = enforcer.restore()
        #expect(report.failures.isEmpty)
        #expect(report.restoredPaths.count == files.count)
        #expect(try files.map { try cgroup.read($0.0, $0.1) } == before)
    }

    @Test func badInputGivesTypedErrorsAndKeepsTheLastValidState() throws {
        let parent = "dpm-test-\(UInt32.random(in: 0...UInt32.max))"
        let keep = try EnforceTestCgroup("keep", parent: parent)
        defer { keep.remove() }
        let gone = try EnforceTestCgroup("gone", parent: parent)
        defer { gone.remove() }
        let enforcer = try makeTestEnforcer()
        defer { enforcer.restore() }
        let valid = [
            TenantState(name: "keep", cgroupPath: keep.path, settings: CgroupSettings(cpuQuotaCores: 0.5, memoryMaxBytes: 200_000_000)),
            TenantState(name: "gone", cgroupPath: gone.path, settings: CgroupSettings(cpuQuotaCores: 0.5)),
        ]
        try enforcer.apply(valid)
        func unchanged() throws -> Bool {
            try keep.read("cpu", "cpu.cfs_quota_us") == String(CgroupBackend.quotaMicroseconds(0.5)) && keep.read("memory", "memory.limit_in_bytes") == "199999488"
        }

        var offline = valid
        offline[0].settings.cpus = [7]
        #expect(throws: EnforceError.cpuOffline(7, online: enforcer.limits.onlineCPUs)) { try enforcer.apply(offline) }
        #expect(try unchanged())

        let holder = try keep.spawn("x=$(head -c 50000000 /dev/zero | tr '\\0' a); exec sleep 30")
        defer { kill(holder.processIdentifier, SIGKILL) }
        var usage = 0.0
        for _ in 0..<200 where usage < 40_000_000 {
            usleep(20_000)
            usage = Double(try keep.read("memory", "memory.usage_in_bytes")) ?? 0
        }
        var belowUsage = valid
        belowUsage[0].settings.memoryMaxBytes = 16 * 1024 * 1024
        #expect {
            try enforcer.apply(belowUsage)
        } throws: { error in
            if case .memoryBelowUsage(tenant: "keep", limitBytes: 16 * 1024 * 1024, _)? = error as? EnforceError { return true }
            return false
        }
        #expect(try unchanged())

        // The cgroup vanishes after it was applied (its files are open): the next apply reports it and leaves the
        // other tenant as it was.
        gone.remove()
        var afterVanish = valid
        afterVanish[0].settings.cpuQuotaCores = 0.3
        afterVanish[1].settings.cpuQuotaCores = 0.2
        #expect {
            try enforcer.apply(afterVanish)
        } throws: { error in
            // The write to the vanished cgroup fails (ENODEV) and the change already made is undone.
            if case .rolledBack(cause: .cgroupMissing, restoredWrites: _)? = error as? EnforceError { return true }
            return false
        }
        #expect(try unchanged())
        #expect(try enforcer.apply([valid[0]]).isEmpty)
    }
}
