import Pool
import Solve
import Testing

/// Memory on a described two-node host: 8 CPUs, SMT 2, CPUs 0, 1, 4, 5 on node 0 and 2, 3, 6, 7 on node 1, CPU 0
/// kept for housekeeping.
@Suite struct MemoryNodeTests {
    static func host(memoryPerNode: [Double], coreCount: Int = 8, threadsPerCore: Int = 2) -> AllocationProblem.Host {
        AllocationProblem.Host(coreCount: coreCount, numaNodes: 2, threadsPerCore: threadsPerCore, housekeepingCoreIDs: [0],
                               memoryBytes: memoryPerNode.reduce(0, +), memoryBytesPerNode: memoryPerNode)
    }

    static func solve(_ problem: AllocationProblem) throws -> (AllocationSolver, Allocation, HostCapacity) {
        let host = try problem.hostCapacity(), specs = try problem.tenantSpecs()
        let solver = try AllocationSolver(host: host, specs: specs)
        try solver.solve(demands: problem.demands())
        let allocation = solver.allocation()
        try allocation.validate(host: host, specs: specs)
        try solver.memoryNodePlacement().validate(allocation: allocation, host: host)
        return (solver, allocation, host)
    }

    /// A latency-critical tenant's memory lives on the node of its cores and is held to that node's memory, though
    /// the host as a whole has room; shared-pool tenants (the pool spans both nodes) may use every node.
    @Test func exclusiveTenantsMemoryIsHeldToTheNodeOfTheirCores() throws {
        let problem = AllocationProblem(host: Self.host(memoryPerNode: [6e9, 6e9]), tenants: [
            .init(name: "db", class: .latencyCritical, demand: .init(cpuCores: 1.3, memoryBytes: 7e9)),
            .init(name: "cache", class: .latencyCritical, demand: .init(cpuCores: 1.3, memoryBytes: 2e9)),
            .init(name: "batch", class: .bestEffort, demand: .init(cpuCores: 1, memoryBytes: 1e9)),
        ])
        let (solver, allocation, host) = try Self.solve(problem)
        let nodeOf = Dictionary(uniqueKeysWithValues: host.cores.map { ($0.id, $0.numaNode) })
        for (slot, name) in ["db", "cache"].enumerated() {
            let cores = allocation.tenants[name]!.exclusiveCoreIDs
            #expect(cores.count == 2)
            let nodes = Set(cores.map { nodeOf[$0]! })
            #expect(nodes.count == 1)
            #expect(solver.memoryNode(slot: slot) == nodes.first)
        }
        #expect(solver.memoryNode(slot: 2) == nil)
        #expect(solver.memoryNodePlacement().nodesByTenant["batch"] == [0, 1])
        // db wants 7 GB; its node has 6 GB: it gets the node's memory, bound by the node, not by the host (12 GB).
        let db = allocation.tenants["db"]!.memoryMaxBytes
        #expect(abs(db - 6e9) < 1)
        let memory = solver.explanation(slot: 0).resources[ResourceKind.memory.rawValue]
        #expect(memory.boundBy == .nodeCapacity)
        #expect(memory.capacityPrice > 0)
        #expect(abs(allocation.tenants["cache"]!.memoryMaxBytes - 2e9) < 1)
        #expect(abs(allocation.tenants["batch"]!.memoryMaxBytes - 1e9) < 1)
    }

    /// A new latency-critical tenant goes to a node whose memory holds its guarantee, even when another node has
    /// more free cores.
    @Test func placementPicksANodeWhoseMemoryHoldsTheGuarantee() throws {
        let problem = AllocationProblem(host: Self.host(memoryPerNode: [8e9, 2e9]), tenants: [
            .init(name: "big", class: .latencyCritical, demand: .init(cpuCores: 1.3, memoryBytes: 5e9), min: .init(memoryBytes: 4e9)),
        ])
        let (solver, allocation, _) = try Self.solve(problem)
        // Node 1 has four free CPUs, node 0 three (CPU 0 is housekeeping), but only node 0 holds 4 GB.
        #expect(Set(allocation.tenants["big"]!.exclusiveCoreIDs).isSubset(of: [1, 4, 5]))
        #expect(solver.memoryNode(slot: 0) == 0)
        #expect(abs(allocation.tenants["big"]!.memoryMaxBytes - 5e9) < 1)
    }

    /// When every core of node 1 is owned exclusively, the shared pool is node 0's: its tenants' memory is confined
    /// there, and guarantees beyond node 0's memory clash by name although the host has room.
    @Test func guaranteesBeyondANodesMemoryAreReportedByNode() throws {
        // 4 CPUs without SMT: 0 and 1 on node 0, 2 and 3 on node 1.
        let problem = AllocationProblem(host: Self.host(memoryPerNode: [4e9, 8e9], coreCount: 4, threadsPerCore: 1), tenants: [
            .init(name: "lc", class: .latencyCritical, demand: .init(cpuCores: 1.3, memoryBytes: 1e9)),
            .init(name: "web", class: .burstable, demand: .init(cpuCores: 0.5, memoryBytes: 3e9), min: .init(memoryBytes: 3e9)),
            .init(name: "job", class: .burstable, demand: .init(cpuCores: 0.5, memoryBytes: 2e9), min: .init(memoryBytes: 2e9)),
        ])
        let solver = try AllocationSolver(host: try problem.hostCapacity(), specs: try problem.tenantSpecs())
        #expect(throws: SolveError.guaranteesClash([GuaranteeClash(resource: "memory of node 0", capacity: 4e9, guarantees: [("web", 3e9), ("job", 2e9)])])) {
            try solver.solve(demands: problem.demands())
        }
        #expect(solver.exclusiveCoreCount(slot: 0) == 2)
        #expect(solver.memoryNode(slot: 1) == 0)
    }

    /// A tenant's memory follows its cores when they move to the other node, and warm ticks keep matching cold solves.
    @Test func memoryFollowsCoresAcrossTicks() throws {
        let problem = AllocationProblem(host: Self.host(memoryPerNode: [6e9, 6e9]), tenants: [
            .init(name: "lc", class: .latencyCritical, demand: .init(cpuCores: 0.5, memoryBytes: 3e9)),
            .init(name: "wide", class: .latencyCritical, demand: .init(cpuCores: 0.5, memoryBytes: 2e9)),
            .init(name: "be", class: .bestEffort, demand: .init(cpuCores: 1, memoryBytes: 5e9)),
        ])
        let host = try problem.hostCapacity(), specs = try problem.tenantSpecs()
        let solver = try AllocationSolver(host: host, specs: specs)
        // Tick 1: one core each. Tick 2: "wide" wants 5 cores, more than a node's four: its memory may use both
        // nodes. Tick 3: back to one core.
        for (tick, wideCores) in [0.5, 3.2, 0.5].enumerated() {
            var demands = problem.demands()
            demands[1].cpuCores = Forecast(expected: wideCores, atQuantile: wideCores, confidence: 1)
            try solver.solve(demands: demands)
            let allocation = solver.allocation()
            try allocation.validate(host: host, specs: specs)
            try solver.memoryNodePlacement().validate(allocation: allocation, host: host)
            let wideNodes = Set(allocation.tenants["wide"]!.exclusiveCoreIDs.map { host.cores[$0].numaNode })
            #expect(solver.memoryNode(slot: 1) == (wideNodes.count == 1 ? wideNodes.first : nil), "tick \(tick)")
            if tick == 1 { #expect(wideNodes.count == 2) }
            let cold = try AllocationSolver(host: host, specs: specs, previous: tick == 0 ? nil : solver.allocation())
            try cold.solve(demands: demands)
            #expect(cold.memoryNode(slot: 1) == solver.memoryNode(slot: 1))
        }
    }

    /// The Pool check on its own: tenants confined to a node may not hold more than it offers.
    @Test func placementValidationCatchesAnOverfullNode() throws {
        let host = HostCapacity(cores: [Core(id: 0, numaNode: 0), Core(id: 1, numaNode: 1)], memoryBytesPerNode: [4e9, 4e9], reservedMemoryBytes: 2e9)
        #expect(host.tenantMemoryBytesPerNode == [3e9, 3e9])
        let allocation = Allocation(tenants: ["a": TenantAllocation(memoryMaxBytes: 2e9), "b": TenantAllocation(memoryMaxBytes: 1.5e9),
                                              "c": TenantAllocation(memoryMaxBytes: 2e9)])
        try MemoryNodePlacement(nodesByTenant: ["a": [0], "b": [1], "c": [0, 1]]).validate(allocation: allocation, host: host)
        #expect(throws: PoolError.self) {
            try MemoryNodePlacement(nodesByTenant: ["a": [0], "b": [0], "c": [0, 1]]).validate(allocation: allocation, host: host)
        }
        #expect(throws: PoolError.self) {
            try MemoryNodePlacement(nodesByTenant: ["a": [2]]).validate(allocation: allocation, host: host)
        }
    }
}
