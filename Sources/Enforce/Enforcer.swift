import Foundation
import Pool

/// Makes the host obey a partition: plans a safe order of changes, writes only what changed, rolls back on a
/// failed write, remembers every original value, and puts them back on restore.
///
/// Not thread-safe: one owner (the tick thread, or a command) calls it.
public final class Enforcer: @unchecked Sendable {
    public let files: ControlFiles
    public let backend: CgroupBackend
    public var limits: PartitionLimits
    /// Where the baseline is kept across crashes (`/run/dpm/enforce-state.json`).
    public let stateFilePath: String
    let bandwidth: (any BandwidthControl)?
    /// What Enforce believes the kernel holds, per tenant, after the last apply.
    public private(set) var applied: [String: TenantState] = [:]
    public private(set) var baseline = Baseline()
    /// Each tenant's last request as given (before normalization): an unchanged request costs one comparison.
    private var lastRequested: [String: TenantState] = [:]

    public static let defaultStateFilePath = "/run/dpm/enforce-state.json"

    public init(
        files: ControlFiles,
        backend: CgroupBackend,
        limits: PartitionLimits,
        stateFilePath: String = Enforcer.defaultStateFilePath,
        bandwidth: (any BandwidthControl)? = nil
    ) {
        self.files = files
        self.backend = backend
        self.limits = limits
        self.stateFilePath = stateFilePath
        self.bandwidth = bandwidth
    }

    // MARK: Apply

    /// Applies a `Pool.Allocation`: each tenant's cpuset is its exclusive cores or else the shared pool (every
    /// online CPU no tenant owns), its memory nodes those of its CPUs, its quota its shared cores, its link ceiling
    /// its bandwidth with its guarantee as the HTB rate.
    @discardableResult
    public func apply(allocation: Allocation, specs: [TenantSpec], host: HostCapacity) throws(EnforceError) -> [PlannedChange] {
        do { try allocation.validate(host: host, specs: specs) } catch { throw .invalidAllocation(error) }
        return try apply(Self.targets(allocation: allocation, specs: specs, host: host))
    }

    /// The tenant states that realize an allocation (pure).
    public static func targets(allocation: Allocation, specs: [TenantSpec], host: HostCapacity) -> [TenantState] {
        let owned = CPUSet(allocation.tenants.values.flatMap(\.exclusiveCoreIDs))
        let sharedPool = CPUSet(host.cores.map(\.id)).subtracting(owned)
        let nodeOfCPU = Dictionary(host.cores.map { ($0.id, $0.numaNode) }, uniquingKeysWith: { a, _ in a })
        return specs.compactMap { spec in
            guard let given = allocation.tenants[spec.name] else { return nil }
            let exclusive = !given.exclusiveCoreIDs.isEmpty
            let cpus = exclusive ? CPUSet(given.exclusiveCoreIDs) : sharedPool
            var settings = CgroupSettings(
                cpus: cpus,
                mems: CPUSet(cpus.members.compactMap { nodeOfCPU[$0] }),
                cpuQuotaCores: exclusive ? .infinity : max(given.sharedCpuCores, 0.01),
                cpuWeight: given.cpuWeight,
                memoryMaxBytes: given.memoryMaxBytes,
                memoryHighBytes: given.memoryHighBytes,
                memoryMinBytes: given.memoryMinBytes
            )
            if settings.mems?.isEmpty == true { settings.mems = nil }
            var bandwidth: [String: Double] = [:]
            if let link = spec.linkName, given.bandwidthBitsPerSecond.isFinite { bandwidth[link] = given.bandwidthBitsPerSecond }
            return TenantState(
                name: spec.name, cgroupPath: spec.cgroupPath, exclusive: exclusive, settings: settings,
                bandwidthBitsPerSecond: bandwidth, pinnedThreadIDs: spec.pinnedThreadIDs,
                guaranteed: ResourceVector(cpuCores: spec.guaranteed.cpuCores, memoryBytes: spec.guaranteed.memoryBytes, networkBitsPerSecond: spec.guaranteed.networkBitsPerSecond)
            )
        }
    }

    /// Applies tenant states (nil settings are left as they are) transactionally and returns the changes made,
    /// in the order they were made. Writes nothing when nothing changed.
    ///
    /// Checks first (offline CPUs, memory limits below usage, missing cgroups and devices) and writes nothing on a
    /// bad input. On a failed write, every change already made is undone in reverse (the reverse of a safe order
    /// is safe) and `.rolledBack` reports the cause.
    @discardableResult
    public func apply(_ requested: [TenantState]) throws(EnforceError) -> [PlannedChange] {
        let changed = requested.filter { lastRequested[$0.name] != $0 }
        guard !changed.isEmpty else { return [] }
        let plan = try applyChanged(changed.map(normalized))
        for tenant in changed { lastRequested[tenant.name] = tenant }
        return plan
    }

    private func applyChanged(_ targets: [TenantState]) throws(EnforceError) -> [PlannedChange] {
        try check(targets)
        var current: [TenantState] = []
        var seen = Set<String>()
        for target in targets {
            current.append(try currentState(for: target))
            seen.insert(target.name)
        }
        // Tenants not in the request stay as they are; they count for capacity and exclusivity (order is irrelevant).
        for (name, state) in applied where !seen.contains(name) { current.append(state) }
        let plan = try ApplyPlanner.plan(from: current, to: targets, limits: limits)
        guard !plan.isEmpty else {
            for state in current where seen.contains(state.name) { applied[state.name] = state }
            return []
        }
        var working = Dictionary(current.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for target in targets {
            working[target.name]?.guaranteed = target.guaranteed
            working[target.name]?.exclusive = target.exclusive
            working[target.name]?.pinnedThreadIDs = target.pinnedThreadIDs
        }
        try recordOriginals(of: plan, in: working, targets: targets)
        var undo: [PlannedChange] = []
        for change in plan {
            let before = working[change.tenant]!
            do {
                try perform(change, on: before)
            } catch {
                for target in targets { lastRequested[target.name] = nil }
                let restored = rollBack(undo, working: &working)
                for (name, state) in working { applied[name] = state }
                throw .rolledBack(cause: error, restoredWrites: restored)
            }
            undo.append(Self.inverse(of: change, before: before))
            working[change.tenant] = Self.applying(change, to: before)
        }
        for target in targets { applied[target.name] = working[target.name] }
        return plan
    }

    // MARK: Drift, restore, adopt

    /// A control file whose content is not what Enforce last wrote (someone else changed it).
    public struct Drift: Sendable, Hashable, CustomStringConvertible {
        public var tenant: String
        public var path: String
        public var expected: String
        public var found: String
        public var description: String { "\(tenant): \(path) holds \"\(found)\", expected \"\(expected)\"" }
    }

    /// Reads back every file Enforce manages and reports those that differ from the applied state. The applied
    /// state takes the values found, so the next apply of the same partition writes the drifted files again.
    public func detectDrift() throws(EnforceError) -> [Drift] {
        var drifts: [Drift] = []
        for tenant in applied.values.sorted(by: { $0.name < $1.name }) {
            for knob in CgroupKnob.allCases {
                guard let expected = tenant.settings[knob], let path = backend.file(knob, of: tenant.cgroupPath) else { continue }
                let text = try files.read(path)
                if let found = backend.decode(knob, text), found != backend.normalized(knob, expected) {
                    drifts.append(Drift(tenant: tenant.name, path: path, expected: backend.encode(knob, expected), found: text))
                    applied[tenant.name]?.settings[knob] = found
                    lastRequested[tenant.name] = nil
                }
            }
        }
        return drifts
    }

    /// What `restore()` did: how many files went back, and what could not (a cgroup that is gone).
    public struct RestoreReport: Sendable {
        public var restoredPaths: [String] = []
        public var failures: [EnforceError] = []
    }

    /// Puts back the original value of every file Enforce touched (newest first), removes its shaping, and deletes
    /// the state file. A file whose cgroup is gone is reported, not fatal.
    @discardableResult
    public func restore() -> RestoreReport {
        var report = RestoreReport()
        for entry in baseline.entries.reversed() {
            do {
                try files.write(entry.original, to: entry.path)
                report.restoredPaths.append(entry.path)
            } catch {
                report.failures.append(error)
            }
        }
        for link in baseline.shapedLinks {
            do { try bandwidth?.remove(link: link) } catch { report.failures.append(error) }
        }
        baseline = Baseline()
        applied = [:]
        lastRequested = [:]
        try? FileManager.default.removeItem(atPath: stateFilePath)
        return report
    }

    /// What to do at start when a previous run left a state file (it crashed or was killed).
    public enum Recovery: Sendable {
        /// Put the host back as the previous run found it.
        case restore
        /// Keep its baseline (for a later restore) and take the kernel's present values as applied.
        case adopt
    }

    /// Loads a previous run's state file, if any, and restores or adopts. Returns nil when there was none.
    @discardableResult
    public func recover(_ recovery: Recovery) throws(EnforceError) -> RestoreReport? {
        guard let previous = try Baseline.load(from: stateFilePath) else { return nil }
        baseline = previous
        switch recovery {
        case .restore:
            return restore()
        case .adopt:
            for tenant in previous.tenants {
                if let state = try? currentState(for: tenant, ignoringApplied: true) { applied[tenant.name] = state }
                if let minor = previous.classMinors[tenant.name] { try? bandwidth?.assignClass(classMinor: minor, tenant: tenant) }
            }
            return RestoreReport()
        }
    }

    /// Reads what the kernel holds now for every knob the target manages.
    public func readKernelState(of target: TenantState) throws(EnforceError) -> TenantState {
        try currentState(for: target, ignoringApplied: true)
    }

    // MARK: Helpers

    private func normalized(_ target: TenantState) -> TenantState {
        var target = target
        for knob in CgroupKnob.allCases {
            if let value = target.settings[knob] { target.settings[knob] = backend.normalized(knob, value) }
        }
        return target
    }

    /// Refuses bad input before anything is written. Tenants already applied skip what cannot have changed
    /// unnoticed (their files are open: a vanished cgroup fails its write, which rolls back), and usage is read
    /// only when a memory limit goes down, so a steady tick reads nothing.
    private func check(_ targets: [TenantState]) throws(EnforceError) {
        for target in targets {
            let previous = applied[target.name]
            for cpu in (target.settings.cpus?.members ?? []) where !limits.onlineCPUs.contains(cpu) {
                throw .cpuOffline(cpu, online: limits.onlineCPUs)
            }
            if target.settings.cpus?.isEmpty == true { throw .invalidAllocation(.invalid(field: "\(target.name).cores", reason: "an empty CPU set")) }
            if previous?.cgroupPath != target.cgroupPath {
                for directory in backend.directories(of: target.cgroupPath) {
                    _ = try files.read(directory + "/cgroup.procs")
                }
            }
            if let limit = target.settings.memoryMaxBytes, limit.isFinite, limit < previous?.settings.memoryMaxBytes ?? .infinity {
                let usagePath = backend.directory(of: target.cgroupPath, controller: "memory")
                    + (backend.version == .v1 ? "/memory.usage_in_bytes" : "/memory.current")
                let text = try files.read(usagePath)
                if let usage = Double(text), usage > limit {
                    throw .memoryBelowUsage(tenant: target.name, limitBytes: limit, usageBytes: usage)
                }
            }
            for link in target.bandwidthBitsPerSecond.keys.sorted() {
                guard let bandwidth else { throw .deviceMissing(link) }
                try bandwidth.prepare(link: link)
            }
        }
    }

    private func currentState(for target: TenantState, ignoringApplied: Bool = false) throws(EnforceError) -> TenantState {
        var state = (ignoringApplied ? nil : applied[target.name]) ?? TenantState(name: target.name, cgroupPath: target.cgroupPath)
        state.cgroupPath = target.cgroupPath
        for knob in CgroupKnob.allCases where target.settings[knob] != nil && state.settings[knob] == nil {
            guard let path = backend.file(knob, of: target.cgroupPath) else {
                state.settings[knob] = target.settings[knob]
                continue
            }
            let text = try files.read(path)
            guard let value = backend.decode(knob, text) else { throw .unparsable(path: path, content: text) }
            state.settings[knob] = value
        }
        return state
    }

    /// Saves the original value of every file the plan will touch for the first time, then the state file.
    private func recordOriginals(of plan: [PlannedChange], in working: [String: TenantState], targets: [TenantState]) throws(EnforceError) {
        var changed = false
        for change in plan {
            guard let tenant = working[change.tenant] else { continue }
            switch change.target {
            case let .knob(knob, _):
                guard let path = backend.file(knob, of: tenant.cgroupPath), !baseline.contains(path) else { continue }
                baseline.record(path: path, original: try files.read(path))
                changed = true
                if backend.version == .v1, knob == .cpuQuota {
                    // Quotas are written against the default period; make sure the tenant's period is that one.
                    let periodPath = backend.directory(of: tenant.cgroupPath, controller: "cpu") + "/cpu.cfs_period_us"
                    let period = try files.read(periodPath)
                    baseline.record(path: periodPath, original: period)
                    if period != String(CgroupBackend.cpuPeriodMicroseconds) {
                        try baseline.save(to: stateFilePath)
                        try files.write(String(CgroupBackend.cpuPeriodMicroseconds), to: periodPath)
                    }
                }
            case let .bandwidth(link, _):
                if !baseline.shapedLinks.contains(link) { baseline.shapedLinks.append(link); changed = true }
                if baseline.classMinors[tenant.name] == nil { _ = baseline.classMinor(of: tenant.name); changed = true }
            case .threadAffinity:
                continue
            }
        }
        for target in targets where !baseline.contains(tenant: target.name) {
            // The target says which knobs are managed: adoption reads those back.
            baseline.record(tenant: target)
            changed = true
        }
        if changed { try baseline.save(to: stateFilePath) }
    }

    /// Makes one change in the kernel.
    private func perform(_ change: PlannedChange, on tenant: TenantState) throws(EnforceError) {
        switch change.target {
        case let .knob(knob, value):
            guard let path = backend.file(knob, of: tenant.cgroupPath) else { return }
            try files.write(backend.encode(knob, value), to: path)
            if knob == .mems, case let .set(newNodes) = value, let oldNodes = tenant.settings.mems {
                try migratePages(of: tenant, from: oldNodes.subtracting(newNodes), to: newNodes)
            }
        case let .bandwidth(link, ceil):
            guard let bandwidth else { throw .deviceMissing(link) }
            let rate = min(tenant.guaranteed.networkBitsPerSecond, ceil)
            try bandwidth.setRate(
                link: link, classMinor: baseline.classMinor(of: tenant.name), tenant: tenant,
                rateBitsPerSecond: rate, ceilBitsPerSecond: ceil
            )
        case let .threadAffinity(cpus):
            for thread in tenant.pinnedThreadIDs {
                let result = files.kernel.setThreadAffinity(threadID: thread, cpus: cpus)
                if result != 0 && result != ESRCH { throw .threadAffinity(threadID: thread, cpus: cpus, errno: ErrnoCode(result)) }
            }
        }
    }

    /// Moves the pages of every process of the tenant off the nodes it lost (libnuma).
    private func migratePages(of tenant: TenantState, from lost: CPUSet, to nodes: CPUSet) throws(EnforceError) {
        guard !lost.isEmpty else { return }
        let procs = try files.read(backend.directory(of: tenant.cgroupPath, controller: "cpuset") + "/cgroup.procs")
        for line in procs.split(separator: "\n") {
            guard let pid = Int32(line) else { continue }
            let result = files.kernel.migratePages(processID: pid, fromNodes: lost, toNodes: nodes)
            if result != 0 && result != ESRCH { throw .pageMigration(processID: pid, toNodes: nodes, errno: ErrnoCode(result)) }
        }
    }

    /// Undoes the changes made so far, newest first; returns how many were undone.
    private func rollBack(_ undo: [PlannedChange], working: inout [String: TenantState]) -> Int {
        var restored = 0
        for change in undo.reversed() {
            guard let before = working[change.tenant] else { continue }
            if (try? perform(change, on: before)) != nil {
                working[change.tenant] = Self.applying(change, to: before)
                restored += 1
            }
        }
        return restored
    }

    static func applying(_ change: PlannedChange, to tenant: TenantState) -> TenantState {
        var tenant = tenant
        switch change.target {
        case let .knob(knob, value): tenant.settings[knob] = value
        case let .bandwidth(link, rate): tenant.bandwidthBitsPerSecond[link] = rate
        case .threadAffinity: break
        }
        return tenant
    }

    static func inverse(of change: PlannedChange, before: TenantState) -> PlannedChange {
        switch change.target {
        case let .knob(knob, _):
            return PlannedChange(tenant: change.tenant, target: .knob(knob, before.settings[knob] ?? .amount(.infinity)))
        case let .bandwidth(link, _):
            return PlannedChange(tenant: change.tenant, target: .bandwidth(link: link, bitsPerSecond: before.bandwidthBitsPerSecond[link] ?? .infinity))
        case .threadAffinity:
            return PlannedChange(tenant: change.tenant, target: .threadAffinity(before.settings.cpus ?? CPUSet()))
        }
    }
}

extension Enforcer {
    /// An Enforcer for this host: detects the cgroup backend, reads the online CPUs and memory, and adopts the
    /// state file a previous run left (so its baseline survives for a later restore).
    public static func forThisHost(
        stateFilePath: String = Enforcer.defaultStateFilePath,
        bandwidth: (any BandwidthControl)? = nil,
        kernel: any KernelCalls = LinuxKernel()
    ) throws(EnforceError) -> Enforcer {
        let files = ControlFiles(kernel: kernel)
        let backend = try CgroupBackend.detect(files: files)
        let host = try TopologyReader(files: files).hostCapacity()
        let enforcer = Enforcer(
            files: files, backend: backend, limits: PartitionLimits(host: host), stateFilePath: stateFilePath, bandwidth: bandwidth
        )
        try enforcer.recover(.adopt)
        return enforcer
    }

    /// The same, shaping traffic in this network namespace with an HTB tree per link and the BPF egress
    /// classifier (needs bpffs and CAP_BPF).
    public static func forThisHost(stateFilePath: String = Enforcer.defaultStateFilePath, shapeTraffic: Bool) throws(EnforceError) -> Enforcer {
        guard shapeTraffic else { return try forThisHost(stateFilePath: stateFilePath) }
        let backend = try CgroupBackend.detect(files: ControlFiles())
        let classifier = try BPFClassifier(unifiedMountPoint: backend.unifiedMountPoint ?? "/sys/fs/cgroup")
        return try forThisHost(stateFilePath: stateFilePath, bandwidth: try TrafficShaper(classifier: classifier))
    }
}
