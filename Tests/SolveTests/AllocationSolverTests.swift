import Pool
import Solve
import Testing

/// Property tests on seeded random allocation problems, plus the cases a person would check by hand.
@Suite struct AllocationSolverTests {
    static func make(_ problem: AllocationProblem, previous: Allocation? = nil) throws -> (AllocationSolver, HostCapacity, [TenantSpec]) {
        let host = try problem.hostCapacity(), specs = try problem.tenantSpecs()
        return (try AllocationSolver(host: host, specs: specs, previous: previous), host, specs)
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func randomProblemsGiveValidAllocationsNoWorseThanGreedy(seed: UInt64) throws {
        let problem = AllocationProblem.synthetic(tenantCount: 4 + Int(seed) * 9, seed: seed)
        let (solver, host, specs) = try Self.make(problem)
        var random = SplitMix64(seed: seed &* 31)
        for tick in 0..<5 {
            let demands = problem.demands { _ in 0.8 + 0.4 * random.nextUnit() }
            try solver.solve(demands: demands)
            let allocation = solver.allocation()
            // Capacity, guarantees, exclusive cores outside housekeeping, one owner per core; memory within the
            // NUMA nodes it is confined to.
            try allocation.validate(host: host, specs: specs)
            try solver.memoryNodePlacement().validate(allocation: allocation, host: host)
            for (slot, spec) in specs.enumerated() {
                let given = try #require(allocation.tenants[spec.name])
                #expect(given.cpuCores <= spec.cap.cpuCores + 1e-9)
                #expect(given.memoryMaxBytes <= spec.cap.memoryBytes * (1 + 1e-9))
                #expect(given.bandwidthBitsPerSecond <= spec.cap.networkBitsPerSecond * (1 + 1e-9))
                #expect(given.memoryMaxBytes >= spec.guaranteed.memoryBytes * (1 - 1e-9))
                if spec.tenantClass != .latencyCritical { #expect(given.exclusiveCoreIDs.isEmpty) }
                #expect(solver.sharedCpuCores(slot: slot) >= -1e-12)
            }
            // The LP is never worse than handing out the same pools greedily by class priority.
            let greedy = Self.greedyAmounts(solver, specs: specs)
            #expect(solver.totalCost <= solver.totalCost(amounts: greedy) + 1e-7, "seed \(seed) tick \(tick)")
        }
    }

    /// Greedy by class: guarantees, then expected demand, then quantile demand, highest class first, until each pool
    /// runs out; nothing beyond the quantile.
    static func greedyAmounts(_ solver: AllocationSolver, specs: [TenantSpec]) -> [Double] {
        var amounts = Array(repeating: 0.0, count: specs.count * 3)
        let order = specs.indices.sorted { (specs[$0].tenantClass.rank, $0) < (specs[$1].tenantClass.rank, $1) }
        for kind in ResourceKind.allCases {
            let row = kind.rawValue
            var left = solver.poolCapacity(row: row)
            for slot in specs.indices where kind != .network || specs[slot].linkName != nil {
                amounts[slot * 3 + row] = solver.cells(slot: slot, kind: kind).lower
                left -= amounts[slot * 3 + row]
            }
            for level in 0..<2 {
                for slot in order where kind != .network || specs[slot].linkName != nil {
                    let cell = solver.cells(slot: slot, kind: kind)
                    let target = min(cell.upper, level == 0 ? cell.expected : cell.quantile)
                    let add = max(0, min(left, target - amounts[slot * 3 + row]))
                    amounts[slot * 3 + row] += add
                    left -= add
                }
            }
        }
        return amounts
    }

    @Test func identicalInputsGiveIdenticalResults() throws {
        let problem = AllocationProblem.synthetic(tenantCount: 40, seed: 11)
        let (first, _, _) = try Self.make(problem)
        let (second, _, _) = try Self.make(problem)
        for tick in 0..<3 {
            let demands = problem.demands { index in 1 + 0.05 * Double((index + tick) % 3) }
            try first.solve(demands: demands)
            try second.solve(demands: demands)
            #expect(first.allocation() == second.allocation())
        }
    }

    @Test func warmTicksMatchColdSolvesOfTheSameTick() throws {
        let problem = AllocationProblem.synthetic(tenantCount: 24, seed: 5)
        let (warm, _, _) = try Self.make(problem)
        var random = SplitMix64(seed: 99)
        var last = Allocation()
        for tick in 0..<6 {
            let demands = problem.demands { _ in 0.9 + 0.2 * random.nextUnit() }
            let (cold, _, _) = try Self.make(problem, previous: tick == 0 ? nil : last)
            try warm.solve(demands: demands)
            try cold.solve(demands: demands)
            #expect(abs(warm.totalCost - cold.totalCost) <= 1e-7 * max(1, abs(cold.totalCost)), "tick \(tick)")
            last = warm.allocation()
        }
    }

    /// The agent's drift: a few tenants' demands change per tick and now and then all of them; the ticks that
    /// rework only what changed must cost what a cold solve of the same tick costs, and stay valid.
    @Test func ticksWithFewChangedTenantsMatchColdSolves() throws {
        let problem = AllocationProblem.synthetic(tenantCount: 32, seed: 8)
        let (warm, host, specs) = try Self.make(problem)
        var random = SplitMix64(seed: 17)
        var factors = Array(repeating: 1.0, count: specs.count)
        var last = Allocation()
        for tick in 0..<30 {
            if tick % 7 == 6 {
                for slot in factors.indices { factors[slot] = 0.8 + 0.4 * random.nextUnit() }
            } else {
                for _ in 0..<2 { factors[Int(random.next() % UInt64(specs.count))] = 0.8 + 0.4 * random.nextUnit() }
            }
            let demands = problem.demands { factors[$0] }
            let (cold, _, _) = try Self.make(problem, previous: tick == 0 ? nil : last)
            try warm.solve(demands: demands)
            try cold.solve(demands: demands)
            #expect(abs(warm.totalCost - cold.totalCost) <= 1e-7 * max(1, abs(cold.totalCost)), "tick \(tick)")
            last = warm.allocation()
            try last.validate(host: host, specs: specs)
        }
    }

    @Test func smallDemandChangesMoveNoCore() throws {
        let problem = AllocationProblem.synthetic(tenantCount: 32, seed: 3)
        let (solver, _, specs) = try Self.make(problem)
        try solver.solve(demands: problem.demands())
        let before = solver.allocation()
        try solver.solve(demands: problem.demands { index in index % 2 == 0 ? 1.01 : 0.99 })
        let after = solver.allocation()
        for spec in specs where spec.tenantClass == .latencyCritical {
            let old = before.tenants[spec.name]!.exclusiveCoreIDs, new = after.tenants[spec.name]!.exclusiveCoreIDs
            // Every core it still needs is one it already had.
            #expect(Set(new).isSubset(of: Set(old)) || Set(old).isSubset(of: Set(new)), "\(spec.name): \(old) → \(new)")
        }
    }

    @Test func latencyCriticalCoresAreSiblingsOnOneNodeAndNeverHousekeeping() throws {
        let host = AllocationProblem.Host(coreCount: 16, numaNodes: 2, threadsPerCore: 2, housekeepingCoreIDs: [0, 8], memoryBytes: 64e9)
        let problem = AllocationProblem(host: host, tenants: [
            .init(name: "db", class: .latencyCritical, demand: .init(cpuCores: 2.5, memoryBytes: 8e9)),
            .init(name: "web", class: .latencyCritical, demand: .init(cpuCores: 1.3, memoryBytes: 4e9)),
            .init(name: "batch", class: .bestEffort, demand: .init(cpuCores: 6, memoryBytes: 8e9)),
        ])
        let (solver, hostCapacity, specs) = try Self.make(problem)
        try solver.solve(demands: problem.demands())
        let allocation = solver.allocation()
        try allocation.validate(host: hostCapacity, specs: specs)
        let db = allocation.tenants["db"]!.exclusiveCoreIDs
        // 2.5 cores at 70 % target utilisation → 4 cores: two whole physical cores (i and i + 8), one node.
        #expect(db.count == 4)
        let physical = Set(db.map { $0 % 8 })
        #expect(physical.count == 2)
        #expect(Set(db.map { ($0 % 8) / 4 }).count == 1)
        for core in db + allocation.tenants["web"]!.exclusiveCoreIDs { #expect(core != 0 && core != 8) }
        #expect(solver.explanation(slot: 0).coresWanted == 4)
    }

    /// A tenant confined to its exclusive cores cannot use shared-pool quota: it gets none, neither from leftover
    /// pool capacity nor when the core budget left its demand short, and the pool's tenants keep that capacity.
    @Test func tenantsWithExclusiveCoresGetNoSharedQuota() throws {
        let host = AllocationProblem.Host(coreCount: 4, housekeepingCoreIDs: [0], memoryBytes: 8e9)
        let problem = AllocationProblem(host: host, tenants: [
            .init(name: "lc", class: .latencyCritical, demand: .init(cpuCores: 0.5, memoryBytes: 1e9)),
            .init(name: "short", class: .latencyCritical, demand: .init(cpuCores: 2.5, memoryBytes: 1e9)),
            .init(name: "be", class: .bestEffort, demand: .init(cpuCores: 1.5, memoryBytes: 1e9)),
        ])
        let (solver, hostCapacity, specs) = try Self.make(problem)
        try solver.solve(demands: problem.demands())
        let allocation = solver.allocation()
        try allocation.validate(host: hostCapacity, specs: specs)
        // 0.5 cores at 70 % → 1 core; 2.5 at 70 % → 4 cores wanted, 2 left after lc's: short of its demand.
        #expect(allocation.tenants["lc"]?.exclusiveCoreIDs.count == 1)
        #expect(allocation.tenants["short"]?.exclusiveCoreIDs.count == 2)
        #expect(allocation.tenants["lc"]?.sharedCpuCores == 0)
        #expect(allocation.tenants["short"]?.sharedCpuCores == 0)
        // The one core left (CPU 0, housekeeping) is the pool: be has its demand from it.
        #expect(abs((allocation.tenants["be"]?.sharedCpuCores ?? 0) - 1) < 1e-9)
        #expect(solver.explanation(slot: 0).resources[ResourceKind.cpu.rawValue].boundBy == .exclusiveCores)
    }

    @Test func clashingGuaranteesAreReportedByName() throws {
        let host = AllocationProblem.Host(coreCount: 8, memoryBytes: 10e9)
        let problem = AllocationProblem(host: host, tenants: [
            .init(name: "a", class: .burstable, demand: .init(cpuCores: 1), min: .init(memoryBytes: 6e9)),
            .init(name: "b", class: .burstable, demand: .init(cpuCores: 1), min: .init(memoryBytes: 5e9)),
            .init(name: "c", class: .bestEffort, demand: .init(cpuCores: 1)),
        ])
        let (solver, _, _) = try Self.make(problem)
        #expect(throws: SolveError.guaranteesClash([GuaranteeClash(resource: "memory", capacity: 10e9, guarantees: [("a", 6e9), ("b", 5e9)])])) {
            try solver.solve(demands: problem.demands())
        }
    }

    @Test func clashingCoreGuaranteesAreReported() throws {
        let host = AllocationProblem.Host(coreCount: 4, housekeepingCoreIDs: [0], memoryBytes: 10e9)
        let problem = AllocationProblem(host: host, tenants: [
            .init(name: "x", class: .latencyCritical, demand: .init(cpuCores: 1), min: .init(cpuCores: 2)),
            .init(name: "y", class: .latencyCritical, demand: .init(cpuCores: 1), min: .init(cpuCores: 2)),
        ])
        let (solver, _, _) = try Self.make(problem)
        #expect {
            try solver.solve(demands: problem.demands())
        } throws: { error in
            guard case let .guaranteesClash(clashes) = error as? SolveError else { return false }
            return clashes.first?.resource == "exclusive cores" && clashes.first?.capacity == 3 && clashes.first?.guarantees.count == 2
        }
    }

    @Test func explanationsNameTheBindingConstraint() throws {
        let host = AllocationProblem.Host(coreCount: 4, memoryBytes: 8e9)
        let problem = AllocationProblem(host: host, tenants: [
            .init(name: "capped", class: .burstable, demand: .init(cpuCores: 0.5, memoryBytes: 3e9), max: .init(memoryBytes: 2e9)),
            .init(name: "guaranteed", class: .bestEffort, demand: .init(cpuCores: 0.2, memoryBytes: 1e9), min: .init(memoryBytes: 1.5e9)),
            .init(name: "squeezed", class: .bestEffort, demand: .init(cpuCores: 0.5, memoryBytes: 20e9)),
        ])
        let (solver, _, _) = try Self.make(problem)
        try solver.solve(demands: problem.demands())
        let memory = { (slot: Int) in solver.explanation(slot: slot).resources[ResourceKind.memory.rawValue] }
        #expect(memory(0).boundBy == .cap)
        #expect(memory(1).boundBy == .guarantee)
        #expect(memory(2).boundBy == .capacity)
        #expect(memory(2).capacityPrice > 0)
        #expect(abs(memory(0).amount + memory(1).amount + memory(2).amount - 8e9) < 1)
        #expect(solver.explanation(slot: 0).resources[ResourceKind.cpu.rawValue].boundBy == .demand)
    }

    @Test func badInputIsRefused() throws {
        var problem = AllocationProblem.synthetic(tenantCount: 4, seed: 1)
        problem.host.memoryBytes = .nan
        #expect(throws: SolveError.self) { try problem.hostCapacity() }
        problem.host.memoryBytes = -1
        #expect(throws: SolveError.self) { try problem.hostCapacity() }
        problem = AllocationProblem.synthetic(tenantCount: 4, seed: 1)
        problem.host.links = [Link(name: "eth0", bandwidthBitsPerSecond: -5)]
        #expect(throws: SolveError.self) { try problem.hostCapacity() }
        problem = AllocationProblem.synthetic(tenantCount: 4, seed: 1)
        problem.tenants[1].min = .init(cpuCores: 3)
        problem.tenants[1].max = .init(cpuCores: 2)
        #expect(throws: SolveError.self) { try problem.tenantSpecs() }
        problem = AllocationProblem.synthetic(tenantCount: 4, seed: 1)
        let (solver, _, _) = try Self.make(problem)
        var demands = problem.demands()
        demands[2].cpuCores.expected = .nan
        #expect(throws: SolveError.self) { try solver.solve(demands: demands) }
        demands[2].cpuCores.expected = -1
        #expect(throws: SolveError.self) { try solver.solve(demands: demands) }
        demands[2].cpuCores.expected = 1
        demands[2].networkBitsPerSecond.atQuantile = .infinity
        #expect(throws: SolveError.self) { try solver.solve(demands: demands) }
        // Finite forecasts whose sum overflows (the fast check's blind spot) are accepted.
        demands[2].networkBitsPerSecond.atQuantile = .greatestFiniteMagnitude
        demands[2].memoryBytes = Forecast(expected: .greatestFiniteMagnitude, atQuantile: .greatestFiniteMagnitude, confidence: 1)
        try solver.solve(demands: demands)
    }

    @Test func latencyAboveTheSLORaisesDemand() {
        let model = CostModel()
        #expect(model.latencyInflation(measuredWaitNanoseconds: 400_000, sloNanoseconds: 500_000) == 1)
        #expect(abs(model.latencyInflation(measuredWaitNanoseconds: 750_000, sloNanoseconds: 500_000) - 1.5) < 1e-12)
        #expect(model.latencyInflation(measuredWaitNanoseconds: 5_000_000, sloNanoseconds: 500_000) == 2)
    }
}

/// The allocation LP written as MPS reads back to the same program and the same optimum.
@Test func allocationLinearProgramRoundTripsThroughMPS() throws {
    let problem = AllocationProblem.synthetic(tenantCount: 12, seed: 4)
    let solver = try AllocationSolver(host: try problem.hostCapacity(), specs: try problem.tenantSpecs())
    try solver.solve(demands: problem.demands())
    let program = solver.linearProgram
    let reread = try MPSReader.parse(MPSWriter.write(program))
    #expect(reread.rowUpper == program.rowUpper)
    #expect(reread.columnUpper == program.columnUpper)
    #expect(reread.costs == program.costs)
    let cold = try SimplexSolver(reread)
    #expect(cold.solve() == .optimal)
    #expect(abs(cold.objective - solver.lpObjective) <= 1e-9 * max(1, abs(cold.objective)))
}

/// An absent tenant keeps its slot (the LP's columns stay) but gets nothing and drops out of the allocation.
@Test func absentTenantsGetNothing() throws {
    let problem = AllocationProblem.synthetic(tenantCount: 16, seed: 8)
    let host = try problem.hostCapacity(), specs = try problem.tenantSpecs()
    let solver = try AllocationSolver(host: host, specs: specs)
    try solver.solve(demands: problem.demands())
    solver.setPresent(0, false)
    try solver.solve(demands: problem.demands())
    let allocation = solver.allocation()
    #expect(allocation.tenants[specs[0].name] == nil)
    #expect(solver.exclusiveCoreCount(slot: 0) == 0)
    #expect(solver.sharedCpuCores(slot: 0) == 0)
    try allocation.validate(host: host, specs: Array(specs.dropFirst()))
}
