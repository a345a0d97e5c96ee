import Pool

/// The enforcer of `dpm run --dry-run`: it keeps what it would have applied and counts the control-file writes
/// that would have been made, and writes nothing. The agent logs each would-be change from the solve history.
public final class DryRunEnforcer: AllocationEnforcing, @unchecked Sendable {
    /// What would be applied now.
    public private(set) var wouldApply = Allocation()

    public init() {}

    public func start(specs: [TenantSpec]) throws -> [String] {
        ["dry run: no control file of \(specs.count) tenants will be written"]
    }

    /// Counts the settings that differ from the last would-be allocation: one write per changed setting.
    public func apply(_ allocation: Allocation, specs: [TenantSpec], host: HostCapacity) throws -> Int {
        var writes = 0
        for spec in specs {
            let next = allocation.tenants[spec.name] ?? TenantAllocation()
            let before = wouldApply.tenants[spec.name] ?? TenantAllocation()
            if next.exclusiveCoreIDs != before.exclusiveCoreIDs { writes += 1 }
            if next.sharedCpuCores != before.sharedCpuCores { writes += 1 }
            if next.cpuWeight != before.cpuWeight { writes += 1 }
            if next.memoryMaxBytes != before.memoryMaxBytes { writes += 1 }
            if next.memoryHighBytes != before.memoryHighBytes { writes += 1 }
            if next.memoryMinBytes != before.memoryMinBytes { writes += 1 }
            if next.bandwidthBitsPerSecond != before.bandwidthBitsPerSecond { writes += 1 }
        }
        wouldApply = allocation
        return writes
    }

    public func restore() throws -> [String] { ["dry run: nothing to restore"] }
}
