@testable import Enforce
import Foundation
import Pool
import Testing

/// Best-effort tenants at idle priority on the cores latency-critical tenants own (`Pool.IdleSoakPolicy`): the
/// targets, the planner's relaxed exclusivity and its order, and the files written and restored.
@Suite final class IdleSoakTests {
    let host = HostCapacity(cores: (0..<4).map { Core(id: $0) }, memoryBytesPerNode: [Double(1 << 30)], housekeepingCoreIDs: [0])
    let specs = [
        TenantSpec(name: "lc", cgroupPath: "pods/lc", tenantClass: .latencyCritical, guaranteed: .init(cpuCores: 1)),
        TenantSpec(name: "burst", cgroupPath: "pods/burst", tenantClass: .burstable, guaranteed: .init(cpuCores: 0.2)),
        TenantSpec(name: "be", cgroupPath: "pods/be", tenantClass: .bestEffort, guaranteed: .init(cpuCores: 0.5)),
    ]
    let allocation = Allocation(tenants: [
        "lc": TenantAllocation(exclusiveCoreIDs: [2, 3]),
        "burst": TenantAllocation(sharedCpuCores: 1.2, cpuWeight: 200),
        "be": TenantAllocation(sharedCpuCores: 0.8, cpuWeight: 100),
    ])
    let stateDirectory = NSTemporaryDirectory() + "dpm-test-\(UInt32.random(in: 0...UInt32.max))"

    deinit { try? FileManager.default.removeItem(atPath: stateDirectory) }

    func makeEnforcer(_ kernel: FakeKernel) -> Enforcer {
        Enforcer(files: ControlFiles(kernel: kernel), backend: .v1Hybrid, limits: PartitionLimits(host: host), stateFilePath: stateDirectory + "/state.json")
    }

    func byName(_ targets: [TenantState]) -> [String: TenantState] {
        Dictionary(uniqueKeysWithValues: targets.map { ($0.name, $0) })
    }

    @Test func bestEffortGetsTheOwnedCoresAtIdlePriorityWithAQuotaThatCoversThem() {
        let targets = byName(Enforcer.targets(allocation: allocation, specs: specs, host: host, soak: .ownedCores))
        let be = targets["be"]!.settings
        #expect(be.cpus == [0, 1, 2, 3])
        #expect(be.cpuIdle == true)
        #expect(be.cpuWeight == nil, "the kernel refuses a weight at idle priority")
        #expect(abs((be.cpuQuotaCores ?? 0) - 2.8) < 1e-9, "its pool share 0.8 plus one core per soaked core")
        // Its claim on capacity stays its guarantee: lc's cores and burst's quota fit beside it.
        #expect(targets["be"]!.cpuClaimCores(onlineCount: 4) == 0.5)
        // Every other tenant is held at normal priority.
        #expect(targets["burst"]!.settings.cpus == [0, 1] && targets["burst"]!.settings.cpuIdle == false)
        #expect(targets["lc"]!.settings.cpus == [2, 3] && targets["lc"]!.settings.cpuIdle == false)
    }

    @Test func withThePolicyOffNothingChanges() {
        let targets = byName(Enforcer.targets(allocation: allocation, specs: specs, host: host, soak: .off))
        #expect(targets["be"]!.settings.cpus == [0, 1])
        #expect(targets["be"]!.settings.cpuIdle == nil)
        #expect(targets["be"]!.settings.cpuWeight == 100)
        #expect(targets["be"]!.settings.cpuQuotaCores == 0.8)
    }

    @Test func anIdleTenantMayShareAnExclusiveCoreAndNoOtherSharedTenantMay() {
        let lc = TenantState(name: "lc", cgroupPath: "lc", exclusive: true, settings: CgroupSettings(cpus: [2]))
        let idle = TenantState(name: "be", cgroupPath: "be", settings: CgroupSettings(cpus: [0], cpuIdle: true))
        let normal = TenantState(name: "burst", cgroupPath: "burst", settings: CgroupSettings(cpus: [0]))
        var state = PartitionState(tenants: [lc, idle, normal], limits: PartitionLimits(host: host))
        #expect(state.applyIfSafe(PlannedChange(tenant: "burst", target: .knob(.cpus, .set([0, 2])))) == nil)
        #expect(state.applyIfSafe(PlannedChange(tenant: "be", target: .knob(.cpus, .set([0, 2])))) != nil)
        #expect(state.violations.isEmpty, "\(state.violations)")
        // Leaving idle priority while on lc's core would break lc's exclusivity: refused until the cpuset shrinks.
        #expect(state.applyIfSafe(PlannedChange(tenant: "be", target: .knob(.cpuIdle, .amount(0)))) == nil)
        // A weight is refused by the kernel at idle priority, so the planner holds it back too.
        #expect(state.applyIfSafe(PlannedChange(tenant: "be", target: .knob(.cpuWeight, .amount(100)))) == nil)
        #expect(state.applyIfSafe(PlannedChange(tenant: "be", target: .knob(.cpus, .set([0])))) != nil)
        #expect(state.applyIfSafe(PlannedChange(tenant: "be", target: .knob(.cpuIdle, .amount(0)))) != nil)
        #expect(state.applyIfSafe(PlannedChange(tenant: "be", target: .knob(.cpuWeight, .amount(100)))) != nil)
        // An exclusive tenant may take a core an idle tenant shares, not one a normal shared tenant holds.
        #expect(state.applyIfSafe(PlannedChange(tenant: "be", target: .knob(.cpuIdle, .amount(1)))) != nil)
        #expect(state.applyIfSafe(PlannedChange(tenant: "be", target: .knob(.cpus, .set([0, 1])))) != nil)
        #expect(state.applyIfSafe(PlannedChange(tenant: "lc", target: .knob(.cpus, .set([1, 2])))) != nil)
        #expect(state.applyIfSafe(PlannedChange(tenant: "lc", target: .knob(.cpus, .set([0, 1, 2])))) == nil)
        #expect(state.violations.isEmpty, "\(state.violations)")
    }

    /// Turning soaking on puts be at idle priority before it takes lc's cores (and raises its quota last); be becoming
    /// burstable shrinks it off lc's cores before it leaves idle priority, and sets its weight only after.
    @Test func goesIdleBeforeTakingTheOwnedCoresAndShrinksOffThemBeforeLeavingIdle() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc", "pods/burst", "pods/be"])
        let enforcer = makeEnforcer(kernel)
        try enforcer.apply(allocation: allocation, specs: specs, host: host, soak: .off)
        #expect(kernel["/sys/fs/cgroup/cpuset/pods/be/cpuset.cpus"] == "0-1")

        let on = try enforcer.apply(allocation: allocation, specs: specs, host: host, soak: .ownedCores).map(\.description).filter { $0.hasPrefix("be:") }
        #expect(on == ["be: cpuIdle = 1.0", "be: cpus = 0-3", "be: cpuQuota = 2.8"], "\(on)")
        #expect(kernel["/sys/fs/cgroup/cpu/pods/be/cpu.idle"] == "1")
        #expect(kernel["/sys/fs/cgroup/cpuset/pods/be/cpuset.cpus"] == "0-3")
        #expect(kernel["/sys/fs/cgroup/cpu/pods/be/cpu.cfs_quota_us"] == "28000")
        #expect(kernel["/sys/fs/cgroup/cpuset/pods/lc/cpuset.cpus"] == "2-3")

        var burstable = specs
        burstable[2].tenantClass = .burstable
        var lessWeight = allocation
        lessWeight.tenants["be"]?.cpuWeight = 50
        let off = try enforcer.apply(allocation: lessWeight, specs: burstable, host: host, soak: .ownedCores).map(\.description).filter { $0.hasPrefix("be:") }
        #expect(off == ["be: cpus = 0-1", "be: cpuQuota = 0.8", "be: cpuIdle = 0.0", "be: cpuWeight = 50.0"], "\(off)")
        #expect(kernel["/sys/fs/cgroup/cpu/pods/be/cpu.idle"] == "0")
        #expect(kernel["/sys/fs/cgroup/cpu/pods/be/cpu.shares"] == "512")
    }

    @Test func restorePutsCpuIdleBack() throws {
        let kernel = FakeKernel.v1(cgroups: ["pods/lc", "pods/burst", "pods/be"])
        let enforcer = makeEnforcer(kernel)
        try enforcer.apply(allocation: allocation, specs: specs, host: host, soak: .ownedCores)
        #expect(kernel["/sys/fs/cgroup/cpu/pods/be/cpu.idle"] == "1")
        #expect(try enforcer.detectDrift().isEmpty)
        let report = enforcer.restore()
        #expect(report.failures.isEmpty)
        #expect(report.restoredPaths.contains("/sys/fs/cgroup/cpu/pods/be/cpu.idle"))
        #expect(kernel["/sys/fs/cgroup/cpu/pods/be/cpu.idle"] == "0")
        #expect(kernel["/sys/fs/cgroup/cpuset/pods/be/cpuset.cpus"] == "0-3")
    }

    @Test func theIdleKnobIsCpuIdleOnBothVersions() throws {
        #expect(CgroupBackend.v1Hybrid.file(.cpuIdle, of: "pods/be") == "/sys/fs/cgroup/cpu/pods/be/cpu.idle")
        #expect(CgroupBackend.v2.file(.cpuIdle, of: "pods/be") == "/sys/fs/cgroup/pods/be/cpu.idle")
        #expect(CgroupBackend.v2.encode(.cpuIdle, .amount(1)) == "1")
        #expect(CgroupBackend.v1Hybrid.encode(.cpuIdle, .amount(0)) == "0")
        #expect(CgroupBackend.v2.decode(.cpuIdle, "1") == .amount(1))
        #expect(CgroupBackend.v2.decode(.cpuIdle, "2") == nil)
        #expect(try PartitionDocument.parse("tenants: [{cgroup: pods/be, cpu_idle: true}]", file: "p.yaml").tenants.first?.settings.cpuIdle == true)
    }
}
