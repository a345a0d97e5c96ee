@testable import Enforce
import Pool
import Testing

@Suite struct ApplyPlannerTests {
    let limits = PartitionLimits(onlineCPUs: [0, 1, 2, 3], memoryBytes: 1_000, linkBitsPerSecond: ["eth0": 100])

    func tenant(_ name: String, cpus: CPUSet, exclusive: Bool = true, quota: Double? = nil, memory: Double? = nil,
                bandwidth: Double? = nil, guaranteed: ResourceVector = .zero) -> TenantState {
        TenantState(
            name: name, cgroupPath: name, exclusive: exclusive,
            settings: CgroupSettings(cpus: cpus, cpuQuotaCores: quota, memoryMaxBytes: memory),
            bandwidthBitsPerSecond: bandwidth.map { ["eth0": $0] } ?? [:], guaranteed: guaranteed
        )
    }

    /// Replays a plan and returns the violations seen after each step (all must be empty).
    func violationsAlong(_ plan: [PlannedChange], from start: [TenantState]) -> [[String]] {
        var state = PartitionState(tenants: start, limits: limits)
        return plan.map { change in
            _ = state.applyIfSafe(change)
            return state.violations
        }
    }

    @Test func takesACoreFromItsDonorBeforeGivingIt() throws {
        let start = [tenant("a", cpus: [1, 2], guaranteed: .init(cpuCores: 1)), tenant("b", cpus: [3], guaranteed: .init(cpuCores: 1))]
        let target = [tenant("a", cpus: [1], guaranteed: .init(cpuCores: 1)), tenant("b", cpus: [2, 3], guaranteed: .init(cpuCores: 1))]
        // b is listed first so a naive order would give core 2 to b while a still holds it.
        let plan = try ApplyPlanner.plan(from: start, to: target.reversed(), limits: limits)
        #expect(plan.map(\.description) == ["a: cpus = 1", "b: cpus = 2-3"])
        #expect(violationsAlong(plan, from: start).allSatisfy { $0.isEmpty })
    }

    @Test func movesATenantThatKeepsNoCoreOnlyAfterItsNewCoreIsFree() throws {
        // a moves 1 -> 2, b moves 2 -> 3; a must keep a core all along (guarantee 1).
        let start = [tenant("a", cpus: [1], guaranteed: .init(cpuCores: 1)), tenant("b", cpus: [2])]
        let target = [tenant("a", cpus: [2], guaranteed: .init(cpuCores: 1)), tenant("b", cpus: [3])]
        let plan = try ApplyPlanner.plan(from: start, to: target, limits: limits)
        #expect(plan.map(\.description) == ["b: cpus = 3", "a: cpus = 2"])
    }

    @Test func shrinksMemoryAndBandwidthBeforeGrowing() throws {
        let start = [tenant("a", cpus: [1], memory: 600, bandwidth: 70), tenant("b", cpus: [2], memory: 400, bandwidth: 30)]
        let target = [tenant("a", cpus: [1], memory: 300, bandwidth: 20), tenant("b", cpus: [2], memory: 700, bandwidth: 80)]
        let plan = try ApplyPlanner.plan(from: start, to: target.reversed(), limits: limits)
        #expect(plan.map(\.description) == [
            "a: memoryMax = 300.0", "a: bandwidth on eth0 = 20.0 bit/s",
            "b: memoryMax = 700.0", "b: bandwidth on eth0 = 80.0 bit/s",
        ])
        #expect(violationsAlong(plan, from: start).allSatisfy { $0.isEmpty })
    }

    /// The agent's case on a 2-CPU host: a owned CPU 1 and returns to the shared CPU 0, b leaves CPU 0 to own CPU 1.
    /// Counted as an owner from the first step, b blocked a's way out and a blocked b's way in (no safe order).
    @Test func handsAnOwnedCoreToANewOwnerWhileTheOldOneReturnsToTheSharedPool() throws {
        let full = PartitionLimits(onlineCPUs: [0, 1], memoryBytes: 1_000)
        let start = [tenant("a", cpus: [1]), tenant("b", cpus: [0], exclusive: false, quota: 0.4), tenant("c", cpus: [0], exclusive: false, quota: 0.4)]
        let target = [tenant("a", cpus: [0], exclusive: false, quota: 0.4), tenant("b", cpus: [1]), tenant("c", cpus: [0], exclusive: false, quota: 0.4)]
        for order in [target, target.reversed()] {
            var state = PartitionState(tenants: start, limits: full)
            let plan = try ApplyPlanner.plan(in: &state, to: order)
            let moves = plan.map(\.description).filter { $0.contains("cpus") }
            #expect(moves == ["a: cpus = 0", "b: cpus = 1"], "b may arrive only once a has left")
            #expect(state.tenant(named: "b")?.exclusive == true)
            #expect(state.tenant(named: "a")?.exclusive == false)
            #expect(state.violations.isEmpty, "\(state.violations)")
        }
    }

    /// The solver fills a 2-CPU pool (a 1.5, b 0.5) and gives 20 tenants no share; Enforce writes the kernel's
    /// smallest quota (0.1) for those. Counted in full, their floors (2 cores) put the pool past capacity and a's grow
    /// had no safe order; a tenant at the floor claims only its guarantee (none here).
    @Test func tenantsAtTheKernelsSmallestQuotaDoNotBlockAGrowThatFillsThePool() throws {
        let full = PartitionLimits(onlineCPUs: [0, 1], memoryBytes: 1_000)
        let floors = (0..<20).map { tenant("z\($0)", cpus: [0, 1], exclusive: false, quota: TenantState.minimumQuotaCores) }
        let start = [tenant("a", cpus: [0, 1], exclusive: false, quota: 1), tenant("b", cpus: [0, 1], exclusive: false, quota: 0.5)] + floors
        let target = [tenant("a", cpus: [0, 1], exclusive: false, quota: 1.5), tenant("b", cpus: [0, 1], exclusive: false, quota: 0.5)] + floors
        var state = PartitionState(tenants: start, limits: full)
        let plan = try ApplyPlanner.plan(in: &state, to: target)
        #expect(plan.map(\.description) == ["a: cpuQuota = 1.5"])
        #expect(state.violations.isEmpty, "\(state.violations)")
        // A tenant at the floor with a guarantee still claims it: the same grow past it is refused.
        let guarded = start.map { $0.name == "z0" ? tenant("z0", cpus: [0, 1], exclusive: false, quota: TenantState.minimumQuotaCores, guaranteed: .init(cpuCores: 0.01)) : $0 }
        #expect(throws: EnforceError.self) { try ApplyPlanner.plan(from: guarded, to: target.map { $0.name == "a" ? tenant("a", cpus: [0, 1], exclusive: false, quota: 1.5 + 0.005) : $0 }, limits: full) }
    }

    @Test func refusesASwapWithNoFreeCore() {
        let full = PartitionLimits(onlineCPUs: [0, 1], memoryBytes: 1_000)
        let guarantee = ResourceVector(cpuCores: 1)
        let start = [tenant("a", cpus: [0], guaranteed: guarantee), tenant("b", cpus: [1], guaranteed: guarantee)]
        let target = [tenant("a", cpus: [1], guaranteed: guarantee), tenant("b", cpus: [0], guaranteed: guarantee)]
        #expect(throws: EnforceError.noSafeOrder(tenants: ["a", "b"])) {
            try ApplyPlanner.plan(from: start, to: target, limits: full)
        }
    }

    @Test func everyPrefixOfRandomPlansIsValid() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            // Random valid partitions of 4 CPUs among an exclusive tenant and a shared one, memory and bandwidth.
            func random() -> [TenantState] {
                let exclusive = CPUSet([1, 2, 3].filter { _ in Bool.random(using: &generator) } + [Int.random(in: 1...3, using: &generator)])
                let shared = CPUSet([0, 1, 2, 3]).subtracting(exclusive)
                let memory = Double(Int.random(in: 100...900, using: &generator))
                let rate = Double(Int.random(in: 10...90, using: &generator))
                return [
                    tenant("x", cpus: exclusive, memory: memory, bandwidth: rate, guaranteed: .init(cpuCores: 1, memoryBytes: 100, networkBitsPerSecond: 10)),
                    tenant("s", cpus: shared, exclusive: false, quota: 0.5, memory: 1000 - memory, bandwidth: 100 - rate,
                           guaranteed: .init(cpuCores: 0.5, memoryBytes: 100, networkBitsPerSecond: 10)),
                ]
            }
            let start = random(), target = random()
            #expect(PartitionState(tenants: start, limits: limits).violations.isEmpty)
            let plan = try ApplyPlanner.plan(from: start, to: target, limits: limits)
            #expect(violationsAlong(plan, from: start).allSatisfy { $0.isEmpty })
            var end = PartitionState(tenants: start, limits: limits)
            for change in plan { _ = end.applyIfSafe(change) }
            #expect(end.tenants.map(\.settings) == target.map(\.settings))
        }
    }
}
