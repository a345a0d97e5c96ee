import Pool

/// Decides when to solve and which of a solve's changes to apply: the loop's hysteresis, as pure functions.
public enum Damping {
    /// Whether a tenant's new forecast moved far enough from the one the last solve used to warrant a new solve.
    ///
    /// The move is measured relative to the larger of the two values, with a floor of a tenth of a core, and must
    /// also exceed `minimumMove`: the loop passes the larger of the forecast's own noise band (its headroom: value
    /// at quantile minus expected value) and the smallest CPU change that `damp` applies. So a tenant whose usage
    /// is noisy by nature (a spinner time-sliced at 1 ms shows 0 or 1 core a tick: a headroom of most of a core)
    /// moves only on a change of its demand, not on the wander of its quantile, and a move too small to change
    /// any allocation (0.02 → 0.05 cores) solves nothing.
    public static func forecastMoved(lastSolved: Double, now: Double, minimumMove: Double, relativeThreshold: Double) -> Bool {
        let scale = max(max(abs(lastSolved), abs(now)), 0.1)
        let move = abs(now - lastSolved)
        return move > relativeThreshold * scale && move > minimumMove
    }

    /// Whether a tenant's CPU demand, as the solver sizes it, was above what it holds when the last solve ran and
    /// still is, so that no solve for its sake can change its allocation.
    ///
    /// Solve's cost of a tenant's CPU amount `a` has the same slope below its expected demand whatever that demand is
    /// (`CostModel`: the need weight, plus stability), and latency sizing only raises the demand; so while the
    /// expected demand stays above `a` a new forecast (or a run-queue wait that inflates it) changes neither the
    /// slope at `a` nor which whole cores it wishes for beyond those it holds, and the last solution stays optimal.
    /// A latency-critical spinner held at its quota in a full shared pool is such a tenant: its throttle-derived
    /// demand swings between a core and several from report to report (it caused most of the agent benchmark's
    /// 14-24 solves a second, none of which changed an allocation). `margin` (the smallest CPU change Damping
    /// applies) covers a solver amount above the applied one that Damping kept out. For a tenant on exclusive cores
    /// (its CPU is exactly its cores) pass the demand at quantile: its whole-core wish comes from it.
    public static func demandStaysUnmet(lastSolvedExpectedCpuCores: Double, nowExpectedCpuCores: Double, heldCpuCores: Double, margin: Double) -> Bool {
        let bar = heldCpuCores + margin
        return lastSolvedExpectedCpuCores > bar && nowExpectedCpuCores > bar
    }

    /// One tenant's step of `damp`: keeps `next` at `current` where it moved less than the hysteresis, or shrank
    /// while `held` (its shrink hold has not ended). Returns whether a shrink was held back.
    @inline(__always)
    static func dampTenant(_ next: inout TenantAllocation, current: TenantAllocation, held: Bool, settings: AgentConfig.Hysteresis) -> Bool {
        var shrinkHeld = false
        if next.exclusiveCoreIDs == current.exclusiveCoreIDs {
            let delta = next.sharedCpuCores - current.sharedCpuCores
            if abs(delta) < settings.cpuCores || (delta < 0 && held) {
                shrinkHeld = abs(delta) >= settings.cpuCores
                next.sharedCpuCores = current.sharedCpuCores
            }
        }
        if current.memoryMaxBytes.isFinite, next.memoryMaxBytes.isFinite {
            let delta = next.memoryMaxBytes - current.memoryMaxBytes
            if abs(delta) < settings.memoryFraction * current.memoryMaxBytes || (delta < 0 && held) {
                shrinkHeld = shrinkHeld || abs(delta) >= settings.memoryFraction * current.memoryMaxBytes
                next.memoryMaxBytes = current.memoryMaxBytes
                next.memoryHighBytes = current.memoryHighBytes
            }
        }
        return shrinkHeld
    }

    /// One applied change, for `explain` and the log.
    public struct Change: Sendable, Codable, Equatable {
        public var tenant: String
        public var beforeCpuCores: Double
        public var afterCpuCores: Double
        public var beforeCoreIDs: [Int]
        public var afterCoreIDs: [Int]
        public var beforeMemoryMaxBytes: Double
        public var afterMemoryMaxBytes: Double
    }

    /// Keeps small changes and recent shrinks out of `proposed`, tenant by tenant, unless the damped partition would
    /// break capacity or a guarantee — then `proposed` is applied as is.
    ///
    /// - Parameters:
    ///   - lastChangeNanoseconds: when each tenant's allocation last changed (absent: never).
    /// - Returns: the allocation to apply, the tenants whose allocation differs from `applied`, and the earliest
    ///   time a shrink held back here may apply (nil: none was held), when the loop must solve again.
    public static func damp(
        proposed: Allocation, applied: Allocation, host: HostCapacity, specs: [TenantSpec],
        lastChangeNanoseconds: [String: UInt64], nowNanoseconds: UInt64, settings: AgentConfig.Hysteresis
    ) -> (allocation: Allocation, changes: [Change], heldUntilNanoseconds: UInt64?) {
        var damped = proposed
        var heldUntil: UInt64?
        for spec in specs {
            guard var next = proposed.tenants[spec.name], let current = applied.tenants[spec.name] else { continue }
            let holdEnds = lastChangeNanoseconds[spec.name].map { $0 + settings.shrinkHoldNanoseconds }
            if dampTenant(&next, current: current, held: holdEnds.map { nowNanoseconds < $0 } ?? false, settings: settings), let holdEnds {
                heldUntil = min(heldUntil ?? holdEnds, holdEnds)
            }
            damped.tenants[spec.name] = next
        }
        if (try? damped.validate(host: host, specs: specs)) == nil {
            damped = proposed
            heldUntil = nil
        }
        let changes = specs.compactMap { spec -> Change? in
            guard let after = damped.tenants[spec.name] else { return nil }
            let before = applied.tenants[spec.name] ?? TenantAllocation()
            guard after != before else { return nil }
            return Change(
                tenant: spec.name, beforeCpuCores: before.cpuCores, afterCpuCores: after.cpuCores,
                beforeCoreIDs: before.exclusiveCoreIDs, afterCoreIDs: after.exclusiveCoreIDs,
                beforeMemoryMaxBytes: before.memoryMaxBytes, afterMemoryMaxBytes: after.memoryMaxBytes
            )
        }
        return (damped, changes, heldUntil)
    }
}
