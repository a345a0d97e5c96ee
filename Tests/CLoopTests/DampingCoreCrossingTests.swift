import Pool
import Solve
import Testing

@testable import CLoop

/// `Damping.demandStaysUnmet` lets the loop skip a solve for a tenant whose CPU demand, as Solve sizes it, stays above
/// what it holds; its claim is that such a solve could not change any allocation. Checked here against the real
/// solver on seeded overloaded problems, with latency-critical tenants both in the shared pool and on their own cores:
/// each unmet tenant's demand is moved (up past a whole core, and down while still above its holding, both as the
/// loop sizes them) and every tenant's allocation must stay within the hysteresis the loop applies.
@Suite struct DampingCoreCrossingTests {
    static let margin = AgentConfig.Hysteresis().cpuCores

    /// The synthetic problem, and the same with every third tenant latency-critical without a core guarantee, so
    /// that the whole-core budget runs out and later latency-critical tenants stay in the shared pool, wishing for
    /// cores (Solve wishes whole cores from the demand at quantile).
    static func problem(seed: UInt64, crowded: Bool) -> AllocationProblem {
        var problem = AllocationProblem.synthetic(tenantCount: 5 + Int(seed) * 3, seed: seed)
        guard crowded else { return problem }
        for index in problem.tenants.indices where index % 3 == 0 {
            problem.tenants[index].class = .latencyCritical
            problem.tenants[index].min?.cpuCores = nil
        }
        return problem
    }

    @Test(arguments: 1...10 as ClosedRange<UInt64>)
    func aSolveForATenantWhoseDemandStaysUnmetChangesNoAllocation(seed: UInt64) throws {
        let checked = try Self.moveEachUnmetDemand(Self.problem(seed: seed, crowded: false), seed: seed)
        #expect(checked.unmetTenants > 0, "seed \(seed): the overloaded problem left no tenant short, so nothing was checked")
    }

    @Test func aLatencyCriticalTenantLeftInTheSharedPoolGetsNoCoreFromASolveForItsSake() throws {
        var inSharedPool = 0
        for seed in 1...10 as ClosedRange<UInt64> {
            inSharedPool += try Self.moveEachUnmetDemand(Self.problem(seed: seed, crowded: true), seed: seed).latencyCriticalInSharedPool
        }
        #expect(inSharedPool >= 5, "only \(inSharedPool) unmet latency-critical tenants without cores were checked")
    }

    /// Moves each unmet tenant's CPU demand in turn and expects every allocation to stay; returns how many tenants
    /// were unmet, and how many of those were latency-critical tenants without exclusive cores.
    static func moveEachUnmetDemand(_ problem: AllocationProblem, seed: UInt64) throws -> (unmetTenants: Int, latencyCriticalInSharedPool: Int) {
        let host = try problem.hostCapacity(), specs = try problem.tenantSpecs()
        let solver = try AllocationSolver(host: host, specs: specs)
        let demands = problem.demands { _ in 1.4 }
        try solver.solve(demands: demands)
        try solver.solve(demands: demands)
        let settled = solver.allocation()
        var unmetTenants = 0, latencyCriticalInSharedPool = 0
        for slot in specs.indices {
            let spec = specs[slot]
            let held = try #require(settled.tenants[spec.name])
            let factor = spec.tenantClass == .latencyCritical ? 1 / solver.model.latencyTargetUtilisation : 1
            // As the loop compares them (ControlLoop's solve trigger): a tenant on its own cores by the larger of its
            // expected and quantile demand, one in the shared pool by its expected demand.
            func sized(_ forecast: Forecast) -> Double {
                (held.exclusiveCoreIDs.isEmpty ? forecast.expected : max(forecast.expected, forecast.atQuantile)) * factor
            }
            let bar = held.cpuCores + Self.margin
            let now = sized(demands[slot].cpuCores)
            guard now > bar else { continue }
            unmetTenants += 1
            if spec.tenantClass == .latencyCritical, held.exclusiveCoreIDs.isEmpty { latencyCriticalInSharedPool += 1 }
            // Up by more than a whole core of sized demand, and down to halfway between its demand and the bar.
            for target in [now + 1.5, (now + bar) / 2] {
                let scale = target / now
                var moved = demands
                moved[slot].cpuCores = Forecast(expected: demands[slot].cpuCores.expected * scale,
                                                atQuantile: demands[slot].cpuCores.atQuantile * scale, confidence: 1)
                #expect(Damping.demandStaysUnmet(lastSolvedExpectedCpuCores: now, nowExpectedCpuCores: sized(moved[slot].cpuCores),
                                                 heldCpuCores: held.cpuCores, margin: Self.margin))
                try solver.solve(demands: moved)
                let after = solver.allocation()
                for other in specs {
                    let before = try #require(settled.tenants[other.name]), given = try #require(after.tenants[other.name])
                    #expect(given.exclusiveCoreIDs == before.exclusiveCoreIDs, "seed \(seed): \(spec.name) sized \(now) → \(target) moved \(other.name)'s cores")
                    #expect(abs(given.sharedCpuCores - before.sharedCpuCores) < Self.margin,
                            "seed \(seed): \(spec.name) sized \(now) → \(target) moved \(other.name)'s share \(before.sharedCpuCores) → \(given.sharedCpuCores)")
                }
                try solver.solve(demands: demands)
            }
        }
        return (unmetTenants, latencyCriticalInSharedPool)
    }
}
