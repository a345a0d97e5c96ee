import Enforce
import Foundation
import Pool

/// The enforcer seam filled by Enforce: transactional applies, the baseline kept in a state file under the agent's
/// state directory, restore on stop, and restore at start when a killed run left its state file behind.
public final class EnforceApplier: AllocationEnforcing, @unchecked Sendable {
    private let enforcer: Enforcer
    /// The tick thread applies while the slow side may retire a tenant: one at a time (uncontended on a tick
    /// unless a retirement is under way, which is rare and short).
    private let lock = NSLock()
    /// When memory limits are not managed, their files are left as they are (not even read).
    private let manageMemory: Bool
    /// Whether best-effort tenants soak the owned cores' idle cycles at idle priority.
    private let soak: IdleSoakPolicy

    /// - Parameter links: the links to shape; each gets an HTB tree at its bandwidth and the BPF classifier that
    ///   sends a tenant's packets (by its socket's cgroup) to the tenant's class. None: traffic is left alone.
    public init(host: HostCapacity, stateDirectory: String, links: [Link], manageMemory: Bool, soak: IdleSoakPolicy) throws {
        self.manageMemory = manageMemory
        self.soak = soak
        let files = ControlFiles()
        let backend = try CgroupBackend.detect(files: files)
        var shaper: TrafficShaper?
        if !links.isEmpty {
            shaper = try TrafficShaper(
                linkBitsPerSecond: Dictionary(links.map { ($0.name, $0.bandwidthBitsPerSecond) }, uniquingKeysWith: { first, _ in first }),
                classifier: try BPFClassifier(unifiedMountPoint: backend.unifiedMountPoint ?? "/sys/fs/cgroup")
            )
        }
        enforcer = Enforcer(
            files: files, backend: backend, limits: PartitionLimits(host: host),
            stateFilePath: "\(stateDirectory)/enforce-state.json", bandwidth: shaper
        )
    }

    public func start(specs: [TenantSpec]) throws -> [String] {
        guard let report = try enforcer.recover(.restore) else { return ["no state file from an earlier run"] }
        return ["found the state file of an earlier run: restored \(report.restoredPaths.count) control files"]
            + report.failures.map { "could not restore: \($0)" }
    }

    public func apply(_ allocation: Allocation, specs: [TenantSpec], host: HostCapacity) throws -> Int {
        try allocation.validate(host: host, specs: specs)
        var targets = Enforcer.targets(allocation: allocation, specs: specs, host: host, soak: soak)
        if !manageMemory {
            for index in targets.indices {
                targets[index].settings.memoryMaxBytes = nil
                targets[index].settings.memoryHighBytes = nil
                targets[index].settings.memoryMinBytes = nil
            }
        }
        lock.lock()
        defer { lock.unlock() }
        return try enforcer.apply(targets).count
    }

    public func retire(tenant name: String) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return enforcer.forget(tenant: name).map { [$0] } ?? []
    }

    public func restore() throws -> [String] {
        let report = enforcer.restore()
        return ["restored \(report.restoredPaths.count) control files to their baseline"] + report.failures.map { "could not restore: \($0)" }
    }
}
