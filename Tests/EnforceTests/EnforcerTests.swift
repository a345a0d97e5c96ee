@testable import Enforce
import Foundation
import Pool
import Testing

/// A class suite: each test gets its own instance, whose state directory goes away with it (also when it fails).
@Suite final class EnforcerTests {
    let limits = PartitionLimits(onlineCPUs: [0, 1, 2, 3], memoryBytes: Double(1 << 30))
    let stateDirectory = NSTemporaryDirectory() + "dpm-test-\(UInt32.random(in: 0...UInt32.max))"
    var statePath: String { stateDirectory + "/enforce-state.json" }

    deinit { try? FileManager.default.removeItem(atPath: stateDirectory) }

    func makeEnforcer(_ kernel: FakeKernel, backend: CgroupBackend = .v1Hybrid) -> Enforcer {
        Enforcer(files: ControlFiles(kernel: kernel), backend: backend, limits: limits, stateFilePath: statePath)
    }

    func lc(cpus: CPUSet = [1], memory: Double = 209_715_200) -> TenantState {
        TenantState(
            name: "lc", cgroupPath: "pods/lc", exclusive: true,
            settings: CgroupSettings(cpus: cpus, cpuQuotaCores: 0.2, cpuWeight: 100, memoryMaxBytes: memory, memoryHighBytes: 167_772_160)
        )
    }

    @Test func writesOnlyWhatChangedAndIsIdempotent() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc"])
        let enforcer = makeEnforcer(kernel)
        let first = try enforcer.apply([lc()])
        #expect(first.count == 4)  // cpu.shares already holds 1024 (weight 100)
        #expect(kernel["/sys/fs/cgroup/cpuset/pods/lc/cpuset.cpus"] == "1")
        #expect(kernel["/sys/fs/cgroup/cpu/pods/lc/cpu.cfs_quota_us"] == "2000")
        #expect(kernel["/sys/fs/cgroup/cpu/pods/lc/cpu.shares"] == "1024")
        #expect(kernel["/sys/fs/cgroup/memory/pods/lc/memory.limit_in_bytes"] == "209715200")
        #expect(kernel["/sys/fs/cgroup/memory/pods/lc/memory.soft_limit_in_bytes"] == "167772160")
        let writes = kernel.writes.count
        #expect(try enforcer.apply([lc()]).isEmpty)
        #expect(kernel.writes.count == writes)
        #expect(try enforcer.apply([lc(memory: 104_857_600)]).map(\.description) == ["lc: memoryMax = 104857600.0"])
        #expect(kernel.writes.count == writes + 1)
        let change = PlannedChange(tenant: "lc", target: .knob(.cpuQuota, .amount(0.2)))
        #expect(enforcer.describe(change) == "lc: /sys/fs/cgroup/cpu/pods/lc/cpu.cfs_quota_us = 2000")
    }

    @Test func writesTheV2Files() throws {
        let kernel = FakeKernel(files: [
            "/sys/fs/cgroup/pods/lc/cgroup.procs": "", "/sys/fs/cgroup/pods/lc/cpuset.cpus": "",
            "/sys/fs/cgroup/pods/lc/cpu.max": "max 100000", "/sys/fs/cgroup/pods/lc/cpu.weight": "100",
            "/sys/fs/cgroup/pods/lc/memory.max": "max", "/sys/fs/cgroup/pods/lc/memory.high": "max",
            "/sys/fs/cgroup/pods/lc/memory.min": "0", "/sys/fs/cgroup/pods/lc/memory.current": "4096",
        ])
        var target = lc()
        target.settings.cpuWeight = 300
        target.settings.memoryMinBytes = 65536
        try makeEnforcer(kernel, backend: .v2).apply([target])
        #expect(kernel["/sys/fs/cgroup/pods/lc/cpu.max"] == "2000 10000")
        #expect(kernel["/sys/fs/cgroup/pods/lc/cpu.weight"] == "300")
        #expect(kernel["/sys/fs/cgroup/pods/lc/memory.max"] == "209715200")
        #expect(kernel["/sys/fs/cgroup/pods/lc/memory.min"] == "65536")
        #expect(kernel["/sys/fs/cgroup/pods/lc/cpuset.cpus"] == "1")
    }

    @Test func rollsBackToTheLastValidStateWhenAWriteFails() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc"])
        let enforcer = makeEnforcer(kernel)
        try enforcer.apply([lc()])
        kernel.fail("/sys/fs/cgroup/memory/pods/lc/memory.soft_limit_in_bytes", errno: EBUSY)
        var next = lc(cpus: [1, 2])
        next.settings.cpuQuotaCores = 0.5
        next.settings.memoryHighBytes = Double(1 << 28)
        #expect {
            try enforcer.apply([next])
        } throws: { error in
            guard case let .rolledBack(cause, restored)? = error as? EnforceError,
                  case let .write(write) = cause else { return false }
            return write.errno == ErrnoCode(EBUSY) && write.value == "268435456" && restored == 2
        }
        #expect(kernel["/sys/fs/cgroup/cpuset/pods/lc/cpuset.cpus"] == "1")
        #expect(kernel["/sys/fs/cgroup/cpu/pods/lc/cpu.cfs_quota_us"] == "2000")
        #expect(enforcer.applied["lc"]?.settings.cpuQuotaCores == 0.2)
    }

    @Test func refusesBadInputBeforeWritingAnything() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc"])
        let enforcer = makeEnforcer(kernel)
        #expect(throws: EnforceError.cpuOffline(9, online: [0, 1, 2, 3])) { try enforcer.apply([lc(cpus: [9])]) }
        kernel["/sys/fs/cgroup/memory/pods/lc/memory.usage_in_bytes"] = "300000000"
        #expect(throws: EnforceError.memoryBelowUsage(tenant: "lc", limitBytes: 209_715_200, usageBytes: 300_000_000)) {
            try enforcer.apply([lc()])
        }
        var gone = lc()
        gone.cgroupPath = "pods/gone"
        #expect(throws: EnforceError.cgroupMissing(path: "/sys/fs/cgroup/cpuset/pods/gone/cgroup.procs")) { try enforcer.apply([gone]) }
        var shaped = lc(memory: 400_000_000)
        shaped.bandwidthBitsPerSecond = ["nosuch0": 1e6]
        #expect(throws: EnforceError.deviceMissing("nosuch0")) { try enforcer.apply([shaped]) }
        #expect(kernel.writes.isEmpty)
    }

    @Test func restorePutsEveryTouchedFileBack() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc"])
        let before = kernel.state.withLock { $0.files }
        let enforcer = makeEnforcer(kernel)
        try enforcer.apply([lc()])
        try enforcer.apply([lc(cpus: [2, 3], memory: 104_857_600)])
        #expect(FileManager.default.fileExists(atPath: enforcer.stateFilePath))
        let report = enforcer.restore()
        #expect(report.failures.isEmpty)
        #expect(kernel.state.withLock { $0.files } == before)
        #expect(!FileManager.default.fileExists(atPath: enforcer.stateFilePath))
    }

    @Test func aRestartAfterACrashRestoresFromTheStateFile() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc"])
        let before = kernel.state.withLock { $0.files }
        let crashed = makeEnforcer(kernel)
        try crashed.apply([lc()])
        let next = Enforcer(files: ControlFiles(kernel: kernel), backend: .v1Hybrid, limits: limits, stateFilePath: crashed.stateFilePath)
        let report = try next.recover(Enforcer.Recovery.restore)
        #expect(report?.failures.isEmpty == true)
        #expect(kernel.state.withLock { $0.files } == before)
    }

    @Test func adoptionKeepsTheBaselineAndTakesThePresentValues() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc"])
        let crashed = makeEnforcer(kernel)
        try crashed.apply([lc()])
        let next = Enforcer(files: ControlFiles(kernel: kernel), backend: .v1Hybrid, limits: limits, stateFilePath: crashed.stateFilePath)
        try next.recover(Enforcer.Recovery.adopt)
        #expect(next.baseline == crashed.baseline)
        #expect(next.applied["lc"]?.settings.cpus == [1])
        let writes = kernel.writes.count
        #expect(try next.apply([lc()]).isEmpty)
        #expect(kernel.writes.count == writes)
    }

    @Test func reportsDrift() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc"])
        let enforcer = makeEnforcer(kernel)
        try enforcer.apply([lc()])
        #expect(try enforcer.detectDrift().isEmpty)
        kernel["/sys/fs/cgroup/cpu/pods/lc/cpu.cfs_quota_us"] = "-1"
        #expect(try enforcer.detectDrift().map(\.path) == ["/sys/fs/cgroup/cpu/pods/lc/cpu.cfs_quota_us"])
    }

    @Test func pinsThreadsToTheTenantsCPUs() throws {
        let kernel = FakeKernel.v1(cgroups: ["vm/a"])
        var vm = TenantState(name: "vm", cgroupPath: "vm/a", exclusive: true, settings: CgroupSettings(cpus: [2, 3]))
        vm.pinnedThreadIDs = [4242, 4243]
        try makeEnforcer(kernel).apply([vm])
        #expect(kernel.state.withLock { $0.affinity } == [4242: [2, 3], 4243: [2, 3]])
    }

    @Test func migratesPagesWhenATenantLeavesANode() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc"])
        kernel["/sys/fs/cgroup/cpuset/pods/lc/cgroup.procs"] = "77"
        var tenant = lc()
        tenant.settings.mems = [1]
        try makeEnforcer(kernel).apply([tenant])
        let migrations = kernel.state.withLock { $0.migrations }
        #expect(migrations.count == 1)
        #expect(migrations.first?.0 == 77 && migrations.first?.1 == [0] && migrations.first?.2 == [1])
    }

    @Test func appliesAPoolAllocation() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc", "pods/be"])
        let host = HostCapacity(cores: (0..<4).map { Core(id: $0) }, memoryBytesPerNode: [Double(1 << 30)], housekeepingCoreIDs: [0])
        let specs = [
            TenantSpec(name: "lc", cgroupPath: "pods/lc", tenantClass: .latencyCritical, guaranteed: .init(cpuCores: 1)),
            TenantSpec(name: "be", cgroupPath: "pods/be", tenantClass: .bestEffort),
        ]
        let allocation = Allocation(tenants: [
            "lc": TenantAllocation(exclusiveCoreIDs: [2, 3], memoryMaxBytes: Double(1 << 28)),
            "be": TenantAllocation(sharedCpuCores: 1.5, memoryMaxBytes: Double(1 << 28)),
        ])
        try makeEnforcer(kernel).apply(allocation: allocation, specs: specs, host: host)
        #expect(kernel["/sys/fs/cgroup/cpuset/pods/lc/cpuset.cpus"] == "2-3")
        #expect(kernel["/sys/fs/cgroup/cpuset/pods/be/cpuset.cpus"] == "0-1")
        #expect(kernel["/sys/fs/cgroup/cpu/pods/be/cpu.cfs_quota_us"] == "15000")
        #expect(kernel["/sys/fs/cgroup/cpu/pods/lc/cpu.cfs_quota_us"] == "-1")
    }
}

extension EnforcerTests {
    @Test func rewritesADriftedFileOnTheNextApply() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc"])
        let enforcer = makeEnforcer(kernel)
        try enforcer.apply([lc()])
        kernel["/sys/fs/cgroup/cpu/pods/lc/cpu.cfs_quota_us"] = "-1"
        #expect(try enforcer.apply([lc()]).isEmpty, "an unchanged request writes nothing")
        #expect(try enforcer.detectDrift().count == 1)
        #expect(try enforcer.apply([lc()]).map(\.description) == ["lc: cpuQuota = 0.2"])
        #expect(kernel["/sys/fs/cgroup/cpu/pods/lc/cpu.cfs_quota_us"] == "2000")
    }
}

extension EnforcerTests {
    /// A described two-node host (this machine has one): a tenant's memory nodes follow its cores.
    @Test func memoryNodesFollowTheCoresOnATwoNodeHost() throws {
        let host = HostCapacity(
            cores: [Core(id: 0, numaNode: 0), Core(id: 1, numaNode: 0), Core(id: 2, numaNode: 1), Core(id: 3, numaNode: 1)],
            memoryBytesPerNode: [Double(1 << 30), Double(1 << 30)], housekeepingCoreIDs: [0]
        )
        let specs = [TenantSpec(name: "lc", cgroupPath: "pods/lc", tenantClass: .latencyCritical), TenantSpec(name: "be", cgroupPath: "pods/be", tenantClass: .bestEffort)]
        let onNode0 = Allocation(tenants: ["lc": TenantAllocation(exclusiveCoreIDs: [1]), "be": TenantAllocation(sharedCpuCores: 1)])
        let onNode1 = Allocation(tenants: ["lc": TenantAllocation(exclusiveCoreIDs: [2, 3]), "be": TenantAllocation(sharedCpuCores: 1)])
        let first = Enforcer.targets(allocation: onNode0, specs: specs, host: host)
        #expect(first.map(\.settings.mems) == [[0], [0, 1]])
        let second = Enforcer.targets(allocation: onNode1, specs: specs, host: host)
        #expect(second.map(\.settings.mems) == [[1], [0]])

        let kernel = FakeKernel.v1(cgroups: ["pods/lc", "pods/be"])
        kernel["/sys/fs/cgroup/cpuset/pods/lc/cgroup.procs"] = "101"
        kernel["/sys/fs/cgroup/cpuset/pods/be/cgroup.procs"] = "202"
        let enforcer = Enforcer(files: ControlFiles(kernel: kernel), backend: .v1Hybrid, limits: PartitionLimits(host: host), stateFilePath: statePath)
        try enforcer.apply(allocation: onNode0, specs: specs, host: host)
        try enforcer.apply(allocation: onNode1, specs: specs, host: host)
        let migrations = kernel.state.withLock { $0.migrations }.map { "\($0.0): \($0.1) -> \($0.2)" }
        // lc leaves node 0 for node 1; be leaves node 1 (its shared pool is now CPUs 0-1).
        #expect(migrations == ["101: 0 -> 1", "202: 1 -> 0"])
        #expect(kernel["/sys/fs/cgroup/cpuset/pods/lc/cpuset.mems"] == "1")
        #expect(kernel["/sys/fs/cgroup/cpuset/pods/be/cpuset.cpus"] == "0-1")
    }
}

extension EnforcerTests {
    /// A tenant whose cgroup vanished is forgotten: its CPU is free for others and restore does not try its files.
    @Test func forgetsATenantWhoseCgroupVanished() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc", "pods/gone"])
        let before = kernel.state.withLock { $0.files }.filter { !$0.key.contains("/pods/gone/") }
        let enforcer = makeEnforcer(kernel)
        var gone = lc(cpus: [2])
        gone.name = "gone"
        gone.cgroupPath = "pods/gone"
        try enforcer.apply([lc(), gone])
        kernel.state.withLock { state in state.files = state.files.filter { !$0.key.contains("/pods/gone/") } }

        let line = try #require(enforcer.forget(tenant: "gone"))
        #expect(line.contains("tenant gone") && line.contains("5 of its 5 baseline file(s) no longer exist"))
        #expect(enforcer.applied["gone"] == nil)
        #expect(!enforcer.baseline.contains(tenant: "gone"))
        #expect(!enforcer.baseline.entries.contains { $0.path.contains("/pods/gone/") })
        #expect(try Baseline.load(from: statePath) == enforcer.baseline)
        #expect(enforcer.forget(tenant: "gone") == nil)
        // Every descriptor into the vanished cgroups is closed, also those only read (cgroup.procs, the CFS period).
        #expect(!kernel.state.withLock { $0.descriptors.values.contains { $0.contains("/pods/gone/") } })
        #expect(kernel.state.withLock { $0.descriptors.values.contains { $0.contains("/pods/lc/") } })
        // CPU 2 was exclusively the vanished tenant's: now it may be given.
        #expect(try enforcer.apply([lc(cpus: [1, 2])]).map(\.description) == ["lc: cpus = 1-2"])
        let report = enforcer.restore()
        #expect(report.failures.isEmpty)
        #expect(kernel.state.withLock { $0.files } == before)
    }

    /// Restore gives a pinned thread its affinity back while it runs, and leaves alone a thread that ended and a
    /// thread id the kernel reused (another start time).
    @Test func restorePutsPinnedThreadsBack() throws {
        let kernel = FakeKernel.v1(cgroups: ["vm/a"])
        for thread: Int32 in [4242, 4243, 4244] { kernel.startThread(thread, startTime: 5000, affinity: [0, 1, 2, 3]) }
        var vm = TenantState(name: "vm", cgroupPath: "vm/a", exclusive: true, settings: CgroupSettings(cpus: [2, 3]))
        vm.pinnedThreadIDs = [4242, 4243, 4244]
        let enforcer = makeEnforcer(kernel)
        try enforcer.apply([vm])
        #expect(kernel.state.withLock { $0.affinity } == [4242: [2, 3], 4243: [2, 3], 4244: [2, 3]])
        #expect(enforcer.baseline.pinnedThreads.map(\.originalCPUs) == [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]])
        #expect(try Baseline.load(from: statePath)?.pinnedThreads == enforcer.baseline.pinnedThreads)

        kernel["/proc/4243/stat"] = nil
        kernel.startThread(4244, startTime: 9000, affinity: [3])
        let report = enforcer.restore()
        #expect(report.failures.isEmpty)
        #expect(report.restoredThreadIDs == [4242])
        #expect(kernel.state.withLock { $0.affinity } == [4242: [0, 1, 2, 3], 4243: [2, 3], 4244: [3]])
        #expect(kernel["/sys/fs/cgroup/cpuset/vm/a/cpuset.cpus"] == "0-3")
    }
}

extension EnforcerTests {
    /// Forgetting a tenant moves the last tenant into its slot: that tenant's files, request and totals move with it.
    @Test func aTenantMovedIntoAForgottenSlotKeepsItsOwnFiles() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/a", "pods/b", "pods/c"])
        let enforcer = makeEnforcer(kernel)
        func tenant(_ name: String, quota: Double) -> TenantState {
            TenantState(name: name, cgroupPath: "pods/\(name)", settings: CgroupSettings(cpuQuotaCores: quota))
        }
        try enforcer.apply([tenant("a", quota: 0.5), tenant("b", quota: 0.5), tenant("c", quota: 0.5)])
        kernel.state.withLock { state in state.files = state.files.filter { !$0.key.contains("/pods/a/") } }
        #expect(enforcer.forget(tenant: "a") != nil)
        let writes = kernel.writes.count
        // The same requests in another order: nothing changed, nothing written.
        #expect(try enforcer.apply([tenant("c", quota: 0.5), tenant("b", quota: 0.5)]).isEmpty)
        #expect(kernel.writes.count == writes)
        #expect(try enforcer.apply([tenant("b", quota: 0.5), tenant("c", quota: 1.5)]).map(\.description) == ["c: cpuQuota = 1.5"])
        #expect(kernel.writes.last?.path == "/sys/fs/cgroup/cpu/pods/c/cpu.cfs_quota_us")
        #expect(kernel["/sys/fs/cgroup/cpu/pods/c/cpu.cfs_quota_us"] == "15000")
        // 0.5 + 1.5 cores of 4: room for b to grow to 2 but not beyond.
        #expect(throws: EnforceError.noSafeOrder(tenants: ["b"])) { try enforcer.apply([tenant("b", quota: 2.6)]) }
        #expect(try enforcer.apply([tenant("b", quota: 2.5)]).count == 1)
    }
}

extension EnforcerTests {
    func shaped(_ name: String, ceil: Double, link: String = "eth0") -> TenantState {
        TenantState(name: name, cgroupPath: "pods/\(name)", bandwidthBitsPerSecond: [link: ceil])
    }

    /// Tenants that come and go leave no class behind, and their class minors are used again.
    @Test func forgettingATenantDeletesItsClassAndFreesItsMinor() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/a", "pods/b", "pods/c"])
        let bandwidth = FakeBandwidth(links: ["eth0"])
        let enforcer = Enforcer(files: ControlFiles(kernel: kernel), backend: .v1Hybrid, limits: limits, stateFilePath: statePath, bandwidth: bandwidth)
        try enforcer.apply([shaped("a", ceil: 1e6), shaped("b", ceil: 2e6)])
        #expect(enforcer.baseline.classMinors == ["a": 2, "b": 3])
        let line = try #require(enforcer.forget(tenant: "a"))
        #expect(line.contains("HTB class D9:2 removed from 1 link(s)"), "\(line)")
        #expect(bandwidth.classes == ["eth0 3 b"])
        #expect(try Baseline.load(from: statePath)?.classMinors == ["b": 3])
        try enforcer.apply([shaped("c", ceil: 3e6)])
        #expect(enforcer.baseline.classMinors == ["b": 3, "c": 2])
        #expect(bandwidth.classes == ["eth0 3 b", "eth0 2 c"])
    }

    /// Restore takes down what Enforce set up in the network, and only that: ingress shaping, the HTB tree, and
    /// the clsact qdisc where Enforce made it (eth1's was there before).
    @Test func restoreTakesDownTheShapingItSetUp() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/a"])
        let bandwidth = FakeBandwidth(links: ["eth0", "eth1"], clsact: ["eth1"])
        let enforcer = Enforcer(files: ControlFiles(kernel: kernel), backend: .v1Hybrid, limits: limits, stateFilePath: statePath, bandwidth: bandwidth)
        try enforcer.apply([shaped("a", ceil: 1e6)])
        #expect(try enforcer.shapeIngress(link: "eth1", bitsPerSecond: 5e6) == "dpm-ifb0")
        #expect(try enforcer.shapeIngress(link: "eth1", bitsPerSecond: 7e6) == "dpm-ifb0")
        #expect(try enforcer.shapeIngress(link: "eth0", bitsPerSecond: 9e6) == "dpm-ifb1")
        let saved = try #require(try Baseline.load(from: statePath))
        #expect(saved.shapedLinks == ["eth0"] && saved.clsactLinks == ["eth0"])
        #expect(saved.ingressDevices == ["eth0": "dpm-ifb1", "eth1": "dpm-ifb0"])

        let report = enforcer.restore()
        #expect(report.failures.isEmpty)
        #expect(bandwidth.trees.isEmpty && bandwidth.classes.isEmpty && bandwidth.ingress.isEmpty)
        #expect(bandwidth.clsact == ["eth1"])
        #expect(bandwidth.log.suffix(4) == ["remove ingress eth0 via dpm-ifb1", "remove ingress eth1 via dpm-ifb0", "remove tree eth0", "remove clsact eth0"])
    }

    /// A link that does not exist is refused and not recorded; one recorded before an apply fails is still
    /// taken down by restore.
    @Test func aMissingLinkIsNotRecordedAndAPreparedOneIsRestoredAfterAFailedApply() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/a"])
        let bandwidth = FakeBandwidth(links: ["eth0"])
        let enforcer = Enforcer(files: ControlFiles(kernel: kernel), backend: .v1Hybrid, limits: limits, stateFilePath: statePath, bandwidth: bandwidth)
        #expect(throws: EnforceError.deviceMissing("nosuch0")) { try enforcer.apply([shaped("a", ceil: 1e6, link: "nosuch0")]) }
        #expect(enforcer.baseline.shapedLinks.isEmpty)
        var bad = shaped("b", ceil: 1e6)
        bad.cgroupPath = "pods/gone"
        #expect(throws: EnforceError.cgroupMissing(path: "/sys/fs/cgroup/cpuset/pods/gone/cgroup.procs")) {
            try enforcer.apply([shaped("a", ceil: 1e6), bad])
        }
        #expect(bandwidth.trees == ["eth0"] && bandwidth.classes.isEmpty)
        #expect(enforcer.restore().failures.isEmpty)
        #expect(bandwidth.trees.isEmpty && bandwidth.clsact.isEmpty)
    }

    /// Without traffic control the Enforcer says so, for shaping it is asked to make and shaping it cannot remove.
    @Test func shapingWithoutTrafficControlIsATypedError() throws {
        let enforcer = makeEnforcer(FakeKernel.v1(cgroups: []))
        #expect(throws: EnforceError.shapingLeft(link: "eth0")) { try enforcer.shapeIngress(link: "eth0", bitsPerSecond: 1e6) }
    }
}

extension EnforcerTests {
    /// A new tenant whose cgroup vanishes while Enforce first reads it never gets a slot, so `forget` does not know
    /// it: the files opened for it on the way (`cgroup.procs` of each hierarchy, knobs read) are closed right away.
    @Test func aNewTenantWhoseCgroupVanishesDuringItsFirstApplyKeepsNoDescriptor() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc", "pods/new"])
        let enforcer = makeEnforcer(kernel)
        var new = lc(cpus: [2])
        new.name = "new"
        new.cgroupPath = "pods/new"
        kernel.state.withLock { state in state.files["/sys/fs/cgroup/cpu/pods/new/cpu.shares"] = nil }
        #expect(throws: EnforceError.self) { try enforcer.apply([lc(), new]) }
        #expect(enforcer.forget(tenant: "new") == nil)
        #expect(!kernel.state.withLock { $0.descriptors.values.contains { $0.contains("/pods/new/") } })
    }

    /// A tenant whose cgroup changes under the same name (a container recreated) has the old cgroup's files closed.
    @Test func aTenantMovedToAnotherCgroupClosesTheOldOnesFiles() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc", "pods/lc2"])
        let enforcer = makeEnforcer(kernel)
        try enforcer.apply([lc()])
        #expect(kernel.state.withLock { $0.descriptors.values.contains { $0.contains("/pods/lc/") } })
        var moved = lc(cpus: [2])
        moved.cgroupPath = "pods/lc2"
        try enforcer.apply([moved])
        #expect(kernel["/sys/fs/cgroup/cpuset/pods/lc2/cpuset.cpus"] == "2")
        #expect(!kernel.state.withLock { $0.descriptors.values.contains { $0.contains("/pods/lc/") } })
    }

    /// A tenant moved to another cgroup with an unchanged target gets that target written to the new cgroup, which
    /// holds the kernel's defaults (before, the old cgroup's values counted as known and nothing was written).
    @Test func aTenantMovedToAnotherCgroupHasItsSettingsWrittenThere() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc", "pods/lc2"])
        let enforcer = makeEnforcer(kernel)
        try enforcer.apply([lc()])
        var moved = lc()
        moved.cgroupPath = "pods/lc2"
        try enforcer.apply([moved])
        #expect(kernel["/sys/fs/cgroup/cpuset/pods/lc2/cpuset.cpus"] == "1")
        #expect(kernel["/sys/fs/cgroup/cpu/pods/lc2/cpu.cfs_quota_us"] == "2000")
        #expect(kernel["/sys/fs/cgroup/memory/pods/lc2/memory.limit_in_bytes"] == "209715200")
    }
}
