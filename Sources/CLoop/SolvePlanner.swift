import Pool
import Solve

/// The solver seam filled by Solve: one `Solve.AllocationSolver` per tenant table, warm from the allocation in
/// force, re-solved on the ticks that need it.
public final class SolvePlanner: AllocationSolving, @unchecked Sendable {
    /// Whether memory limits follow the forecasts; when off, tenants keep their configured cap (unlimited by
    /// default) and only their guarantee is protected.
    private let manageMemory: Bool

    public init(manageMemory: Bool) {
        self.manageMemory = manageMemory
    }

    public func plan(host: HostCapacity, specs: [TenantSpec], current: Allocation) throws -> any SolvePlan {
        Plan(solver: try AllocationSolver(host: host, specs: specs, previous: current), specs: specs, manageMemory: manageMemory)
    }

    final class Plan: SolvePlan, @unchecked Sendable {
        let solver: AllocationSolver
        let specs: [TenantSpec]
        let manageMemory: Bool

        init(solver: AllocationSolver, specs: [TenantSpec], manageMemory: Bool) {
            self.solver = solver
            self.specs = specs
            self.manageMemory = manageMemory
        }

        func solve(demands: [TenantDemand], present: [Bool], into allocations: inout [TenantAllocation]) throws -> Int {
            for slot in present.indices { solver.setPresent(slot, present[slot]) }
            try solver.solve(demands: demands)
            solver.readAllocations(into: &allocations)
            if !manageMemory {
                for slot in specs.indices where present[slot] {
                    allocations[slot].memoryMaxBytes = specs[slot].cap.memoryBytes
                    allocations[slot].memoryHighBytes = specs[slot].cap.memoryBytes
                }
            }
            return solver.lpIterations
        }

        /// Solve sizes a latency-critical tenant's CPU for `latencyTargetUtilisation`, and a missed objective only
        /// raises it further.
        func cpuDemandFactor(index: Int) -> Double {
            specs[index].tenantClass == .latencyCritical ? 1 / solver.model.latencyTargetUtilisation : 1
        }

        func explain(names: [String]) -> [String: TenantRationale] {
            var result: [String: TenantRationale] = [:]
            for name in names {
                guard let slot = solver.slot(named: name) else { continue }
                let explanation = solver.explanation(slot: slot)
                var rationale = TenantRationale()
                if explanation.coresWanted > 0 {
                    rationale.bindingConstraints.append("latency sizing wants \(explanation.coresWanted) exclusive cores, has \(explanation.exclusiveCoreIDs)")
                }
                if explanation.latencyInflation > 1 {
                    rationale.bindingConstraints.append("run-queue wait above the objective inflated CPU demand ×\(explanation.latencyInflation)")
                }
                for resource in explanation.resources where resource.boundBy != .unshaped && resource.boundBy != .noDemand {
                    rationale.bindingConstraints.append(
                        "\(resource.resource): \(resource.boundBy.rawValue) (amount \(resource.amount), bounds \(resource.minimum)…\(resource.maximum), demand \(resource.expectedDemand) expected / \(resource.quantileDemand) at quantile, pool price \(resource.capacityPrice))"
                    )
                    let terms = resource.costTerms
                    for (term, value) in [("shortfall", terms.shortfall), ("headroom", terms.headroom), ("utilisation", terms.utilisation),
                                          ("stability", terms.stability), ("contention", terms.contention)] where value != 0 {
                        rationale.costTerms["\(resource.resource).\(term)"] = value
                    }
                }
                result[name] = rationale
            }
            return result
        }
    }
}
