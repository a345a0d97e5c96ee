import Pool

/// Decides when to solve and which of a solve's changes to apply: the loop's hysteresis, as pure functions.
public enum Damping {
    /// Whether a tenant's new forecast moved far enough from the one the last solve used to warrant a new solve.
    ///
    /// The move is measured relative to the larger of the two values, with a floor of a tenth of a core so that
    /// a small tenant's millisecond noise (0.01 → 0.03 cores) does not trigger solves.
    public static func forecastMoved(lastSolved: Double, now: Double, relativeThreshold: Double) -> Bool {
        let scale = max(max(abs(lastSolved), abs(now)), 0.1)
        return abs(now - lastSolved) > relativeThreshold * scale
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
    /// - Returns: the allocation to apply and the tenants whose allocation differs from `applied`.
    public static func damp(
        proposed: Allocation, applied: Allocation, host: HostCapacity, specs: [TenantSpec],
        lastChangeNanoseconds: [String: UInt64], nowNanoseconds: UInt64, settings: AgentConfig.Hysteresis
    ) -> (allocation: Allocation, changes: [Change]) {
        var damped = proposed
        for spec in specs {
            guard var next = proposed.tenants[spec.name], let current = applied.tenants[spec.name] else { continue }
            let held = lastChangeNanoseconds[spec.name].map { nowNanoseconds < $0 + settings.shrinkHoldNanoseconds } ?? false
            if next.exclusiveCoreIDs == current.exclusiveCoreIDs {
                let delta = next.sharedCpuCores - current.sharedCpuCores
                if abs(delta) < settings.cpuCores || (delta < 0 && held) { next.sharedCpuCores = current.sharedCpuCores }
            }
            if current.memoryMaxBytes.isFinite, next.memoryMaxBytes.isFinite {
                let delta = next.memoryMaxBytes - current.memoryMaxBytes
                if abs(delta) < settings.memoryFraction * current.memoryMaxBytes || (delta < 0 && held) {
                    next.memoryMaxBytes = current.memoryMaxBytes
                    next.memoryHighBytes = current.memoryHighBytes
                }
            }
            damped.tenants[spec.name] = next
        }
        if (try? damped.validate(host: host, specs: specs)) == nil { damped = proposed }
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
        return (damped, changes)
    }
}
