import Foundation
import Pool

/// Makes the host obey a partition: plans a safe order of changes, writes only what changed, rolls back on a
/// failed write, remembers every original value, and puts them back on restore.
///
/// Not thread-safe: one owner (the tick thread, or a command) calls it.
public final class Enforcer: @unchecked Sendable {
    public let files: ControlFiles
    public let backend: CgroupBackend
    public let limits: PartitionLimits
    /// Where the baseline is kept across crashes (`/run/dpm/enforce-state.json`).
    public let stateFilePath: String
    let bandwidth: (any BandwidthControl)?
    /// What Enforce believes the kernel holds, with the running totals the planner checks against. A tenant's
    /// slot there indexes `books` too.
    private var partition: PartitionState
    /// Per tenant slot: its last request, its control files' paths, which originals are recorded.
    private var books: [TenantBook] = []
    /// What Enforce believes the kernel holds, per tenant, after the last apply.
    public var applied: [String: TenantState] {
        Dictionary(partition.tenants.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }
    public private(set) var baseline = Baseline()
    /// Working lists of one apply, kept so that a steady tick allocates nothing.
    private var changedRequests: [Int] = []
    private var changedSlots: [Int] = []
    private var targets: [TenantState] = []
    /// The changed tenants' states before the apply, to put back when it fails. Their ceilings are kept apart in
    /// `journalRates` (the states hold none): a state in the journal sharing its tenant's ceiling dictionary would
    /// make the planner's change of a ceiling copy the dictionary (a heap allocation per shaped tenant and tick).
    private var journal: [TenantState] = []
    private var journalRates: [(slot: Int, link: String, bitsPerSecond: Double)] = []
    private var buffers = PlanBuffers()

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
        partition = PartitionState(tenants: [], limits: limits)
    }

    // MARK: Apply

    /// Applies a `Pool.Allocation`: each tenant's cpuset is its exclusive cores or else the shared pool (every
    /// online CPU no tenant owns), its memory nodes those of its CPUs, its quota its shared cores, its link ceiling
    /// its bandwidth with its guarantee as the HTB rate; under `soak`, best-effort tenants at idle priority also on
    /// the owned cores (see `targets`).
    @discardableResult
    public func apply(allocation: Allocation, specs: [TenantSpec], host: HostCapacity, soak: IdleSoakPolicy = .off) throws(EnforceError) -> [PlannedChange] {
        do { try allocation.validate(host: host, specs: specs) } catch { throw .invalidAllocation(error) }
        return try apply(Self.targets(allocation: allocation, specs: specs, host: host, soak: soak))
    }

    /// The tenant states that realize an allocation (pure).
    ///
    /// A tenant that `soak` puts at idle priority gets `cpu.idle = 1`, no weight (the kernel refuses one at idle
    /// priority), a cpuset of the shared pool plus the cores it soaks (`Allocation.idleSoakCoreIDs`), and a quota of
    /// its pool share plus one core per soaked core, so that the quota never stops it from using what the owners
    /// leave idle. Under `.off` the idle knob is not managed at all (kernels before 5.15 have no `cpu.idle`); under
    /// `.ownedCores` every tenant's is, so a tenant that leaves the best-effort class leaves idle priority too.
    public static func targets(allocation: Allocation, specs: [TenantSpec], host: HostCapacity, soak: IdleSoakPolicy = .off) -> [TenantState] {
        let owned = CPUSet(allocation.tenants.values.flatMap(\.exclusiveCoreIDs))
        let sharedPool = CPUSet(host.cores.map(\.id)).subtracting(owned)
        let nodeOfCPU = Dictionary(host.cores.map { ($0.id, $0.numaNode) }, uniquingKeysWith: { a, _ in a })
        return specs.compactMap { spec in
            guard let given = allocation.tenants[spec.name] else { return nil }
            let exclusive = !given.exclusiveCoreIDs.isEmpty
            let idle = !exclusive && soak.runsAtIdlePriority(spec.tenantClass)
            let soaked = idle ? CPUSet(allocation.idleSoakCoreIDs(for: spec.tenantClass, policy: soak)) : CPUSet()
            let cpus = exclusive ? CPUSet(given.exclusiveCoreIDs) : sharedPool.union(soaked)
            var settings = CgroupSettings(
                cpus: cpus,
                mems: CPUSet(cpus.members.compactMap { nodeOfCPU[$0] }),
                cpuQuotaCores: exclusive ? .infinity : max(given.sharedCpuCores, TenantState.minimumQuotaCores) + Double(soaked.count),
                cpuWeight: idle ? nil : given.cpuWeight,
                cpuIdle: soak == .off ? nil : idle,
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
    ///
    /// - Important: The tick's hot path. A tenant whose request equals its last one costs one comparison (found
    ///   without hashing when the request lists tenants in the same order as before); only the changed tenants are
    ///   read, planned and written, in place, with working lists kept between calls.
    @discardableResult
    public func apply(_ requested: [TenantState]) throws(EnforceError) -> [PlannedChange] {
        changedRequests.removeAll(keepingCapacity: true)
        for position in requested.indices {
            if let slot = partition.slot(named: requested[position].name, hint: position),
               books[slot].isLastRequest(requested[position]) { continue }
            changedRequests.append(position)
        }
        guard !changedRequests.isEmpty else { return [] }
        targets.removeAll(keepingCapacity: true)
        for position in changedRequests { targets.append(normalized(requested[position])) }
        try applyTargets()
        for (position, slot) in zip(changedRequests, changedSlots) { books[slot].lastRequested = requested[position] }
        return buffers.plan
    }

    /// Checks, plans and writes `targets`; fills `changedSlots` and `buffers`.
    private func applyTargets() throws(EnforceError) {
        do {
            try check(targets)
            // What the kernel holds for the requested tenants (reading only knobs not yet known) becomes known first.
            changedSlots.removeAll(keepingCapacity: true)
            for target in targets { changedSlots.append(try learn(target)) }
        } catch {
            // A new tenant that failed before it got a slot is unknown to `forget`: close what was opened for it.
            for target in targets where partition.index[target.name] == nil {
                files.forget(filesIn: Set(backend.directories(of: target.cgroupPath)))
            }
            throw error
        }
        journal.removeAll(keepingCapacity: true)
        journalRates.removeAll(keepingCapacity: true)
        for slot in changedSlots {
            var saved = partition.tenants[slot]
            for (link, rate) in saved.bandwidthBitsPerSecond { journalRates.append((slot, link, rate)) }
            saved.bandwidthBitsPerSecond = [:]
            journal.append(saved)
        }
        // Tenants not in the request stay as they are; the partition state counts them for capacity.
        do {
            try ApplyPlanner.plan(in: &partition, slots: changedSlots, targets: targets, into: &buffers)
            if !buffers.plan.isEmpty { try recordOriginals() }
        } catch {
            putBackJournal()
            throw error
        }
        for step in buffers.plan.indices {
            do {
                try perform(buffers.plan[step], undoing: buffers.inverses[step], slot: buffers.planSlots[step])
            } catch {
                for slot in changedSlots { books[slot].lastRequested = nil }
                throw .rolledBack(cause: error, restoredWrites: rollBack(failedStep: step))
            }
        }
    }

    /// A change as an operator reads it: the file and the exact text written, or the class and its rates.
    public func describe(_ change: PlannedChange) -> String {
        guard let tenant = partition.tenant(named: change.tenant) else { return change.description }
        switch change.target {
        case let .knob(knob, value):
            guard let path = backend.file(knob, of: tenant.cgroupPath) else { return "\(change.tenant): \(knob) has no file on cgroup \(backend.version)" }
            return "\(change.tenant): \(path) = \(backend.encode(knob, value))"
        case let .bandwidth(link, ceil):
            let minor = baseline.classMinors[change.tenant].map { String($0, radix: 16) } ?? "?"
            let rate = min(tenant.guaranteed.networkBitsPerSecond, ceil)
            return "\(change.tenant): \(link) HTB class d9:\(minor) rate \(Int64(rate)) bit/s ceil \(Int64(ceil)) bit/s"
        case .threadAffinity:
            return "\(change.description) (threads \(tenant.pinnedThreadIDs.map(String.init).joined(separator: ", ")))"
        }
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
        for slot in partition.tenants.indices.sorted(by: { partition.tenants[$0].name < partition.tenants[$1].name }) {
            let tenant = partition.tenants[slot]
            for knob in CgroupKnob.allCases {
                guard let expected = tenant.settings[knob], let path = books[slot].paths[knob.position] else { continue }
                let text = try files.read(path)
                if let found = backend.decode(knob, text), found != backend.normalized(knob, expected) {
                    drifts.append(Drift(tenant: tenant.name, path: path, expected: backend.encode(knob, expected), found: text))
                    partition.force(PlannedChange(tenant: tenant.name, target: .knob(knob, found)), at: slot)
                    books[slot].lastRequested = nil
                }
            }
        }
        return drifts
    }

    /// What `restore()` did: which files and threads went back, and what could not (a cgroup that is gone).
    public struct RestoreReport: Sendable {
        public var restoredPaths: [String] = []
        /// Threads pinned one by one whose original affinity was put back (those that ended are skipped).
        public var restoredThreadIDs: [Int32] = []
        public var failures: [EnforceError] = []
    }

    /// Puts back the original value of every file Enforce touched (newest first), then the affinity of every
    /// thread it pinned one by one that still runs (after the cpusets, which reset their tasks' affinity), removes
    /// its shaping (ingress redirects and ifb devices, HTB trees and the classifier, the clsact qdiscs it created),
    /// and deletes the state file. A file whose cgroup is gone is reported, not fatal.
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
        for thread in baseline.pinnedThreads.reversed() where threadStartTime(thread.threadID) == thread.startTime {
            let result = files.kernel.setThreadAffinity(threadID: thread.threadID, cpus: thread.originalCPUs)
            if result == 0 {
                report.restoredThreadIDs.append(thread.threadID)
            } else if result != ESRCH {
                report.failures.append(.threadAffinity(threadID: thread.threadID, cpus: thread.originalCPUs, errno: ErrnoCode(result)))
            }
        }
        restoreNetwork(into: &report)
        baseline = Baseline()
        partition = PartitionState(tenants: [], limits: limits)
        books = []
        try? FileManager.default.removeItem(atPath: stateFilePath)
        // The state directory goes too when nothing else is in it.
        rmdir((stateFilePath as NSString).deletingLastPathComponent)
        return report
    }

    /// Drops a tenant that is gone (the agent retired it: its cgroup vanished) from the applied state and the
    /// baseline, so that neither a later apply nor restore touches its files. Only baseline files that no longer
    /// exist are dropped (a file still present is restored as usual), and only threads that ended. Its HTB class
    /// is deleted on every shaped link and its classifier entry removed, so tenants that come and go leave nothing
    /// in the network QoS (and their class minors are used again). Returns a line for the log, nil when Enforce
    /// knows no such tenant.
    @discardableResult
    public func forget(tenant name: String) -> String? {
        let known = partition.tenant(named: name) ?? baseline.tenants.first { $0.name == name }
        guard let known else { return nil }
        let directories = Set(backend.directories(of: known.cgroupPath))
        if let removed = partition.remove(named: name) {
            books.swapAt(removed.slot, removed.movedFrom)
            books.removeLast()
        }
        files.forget(filesIn: directories)
        let owned = baseline.entries.map(\.path).filter { directories.contains(($0 as NSString).deletingLastPathComponent) }
        let gone = owned.filter { path in
            if case let .failure(code) = files.kernel.read(path) { code.rawValue == ENOENT || code.rawValue == ENODEV } else { false }
        }
        let endedThreads = known.pinnedThreadIDs.filter { thread in
            baseline.pinnedThreads.first { $0.threadID == thread }.map { threadStartTime(thread) != $0.startTime } ?? false
        }
        let classMinor = baseline.classMinors[name]
        var networkFailures: [EnforceError] = []
        if let classMinor, let bandwidth {
            for link in baseline.shapedLinks {
                do { try bandwidth.removeClass(link: link, classMinor: classMinor, tenant: known) } catch { networkFailures.append(error) }
            }
        }
        baseline.forget(tenant: name, paths: Set(gone), threadIDs: Set(endedThreads))
        var line = "tenant \(name): dropped from the enforced state; cgroup \(known.cgroupPath) is gone: \(gone.count) of its "
            + "\(owned.count) baseline file(s) no longer exist and will not be restored"
        if !endedThreads.isEmpty { line += ", \(endedThreads.count) pinned thread(s) ended" }
        if let classMinor, bandwidth != nil {
            line += "; HTB class D9:\(String(classMinor, radix: 16)) removed from \(baseline.shapedLinks.count) link(s)"
        }
        for failure in networkFailures { line += "; \(failure)" }
        do { try baseline.save(to: stateFilePath) } catch { line += "; \(error)" }
        return line
    }

    /// Shapes everything `link` receives to `bitsPerSecond` (per link, not per tenant) through an ifb device of
    /// Enforce's, `dpm-ifb<n>`, made when missing; calling again changes the rate. The device is recorded in the
    /// baseline (and the state file) before it is made, so restore, also after a crash, deletes it, the redirect
    /// and the clsact qdisc when Enforce made it. Returns the device's name.
    @discardableResult
    public func shapeIngress(link: String, bitsPerSecond: Double) throws(EnforceError) -> String {
        guard let bandwidth else { throw .shapingLeft(link: link) }
        let device: String
        if let recorded = baseline.ingressDevices[link] {
            device = recorded
        } else {
            let taken = Set(baseline.ingressDevices.values)
            device = (0...).lazy.map { "dpm-ifb\($0)" }.first { !taken.contains($0) }!
            baseline.ingressDevices[link] = device
            try baseline.save(to: stateFilePath)
        }
        if try bandwidth.shapeIngress(link: link, device: device, bitsPerSecond: bitsPerSecond) { try recordClsact(on: link) }
        return device
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
            for tenant in previous.tenants where partition.index[tenant.name] == nil {
                var book = TenantBook(cgroupPath: tenant.cgroupPath, backend: backend)
                book.inBaseline = true
                if let state = try? kernelState(for: tenant, known: TenantState(name: tenant.name, cgroupPath: tenant.cgroupPath), book: book) {
                    books.append(book)
                    partition.add(state)
                }
                if let minor = previous.classMinors[tenant.name] { try? bandwidth?.assignClass(classMinor: minor, tenant: tenant) }
            }
            return RestoreReport()
        }
    }

    /// Reads what the kernel holds now for every knob the target manages.
    public func readKernelState(of target: TenantState) throws(EnforceError) -> TenantState {
        let book = TenantBook(cgroupPath: target.cgroupPath, backend: backend)
        return try kernelState(for: target, known: TenantState(name: target.name, cgroupPath: target.cgroupPath), book: book)
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
            let slot = partition.index[target.name]
            for cpu in (target.settings.cpus?.members ?? []) where !limits.onlineCPUs.contains(cpu) {
                throw .cpuOffline(cpu, online: limits.onlineCPUs)
            }
            if target.settings.cpus?.isEmpty == true { throw .invalidAllocation(.invalid(field: "\(target.name).cores", reason: "an empty CPU set")) }
            let book = slot.map { books[$0] }.flatMap { $0.cgroupPath == target.cgroupPath ? $0 : nil }
            if book == nil {
                for directory in backend.directories(of: target.cgroupPath) {
                    _ = try files.read(directory + "/cgroup.procs")
                }
            }
            if let limit = target.settings.memoryMaxBytes, limit.isFinite,
               limit < slot.flatMap({ partition.tenants[$0].settings.memoryMaxBytes }) ?? .infinity {
                let usagePath = book?.memoryUsagePath ?? TenantBook.memoryUsagePath(of: target.cgroupPath, backend: backend)
                let text = try files.read(usagePath)
                if let usage = Double(text), usage > limit {
                    throw .memoryBelowUsage(tenant: target.name, limitBytes: limit, usageBytes: usage)
                }
            }
            if !target.bandwidthBitsPerSecond.isEmpty {
                guard let bandwidth else { throw .deviceMissing(target.bandwidthBitsPerSecond.keys.min()!) }
                for link in target.bandwidthBitsPerSecond.keys { try prepare(link: link, with: bandwidth) }
            }
        }
    }

    /// The tenant's slot, after reading from the kernel every knob the target manages that is not yet known. A new
    /// tenant gets a slot only once all its reads succeeded.
    private func learn(_ target: TenantState) throws(EnforceError) -> Int {
        guard let slot = partition.index[target.name] else {
            let book = TenantBook(cgroupPath: target.cgroupPath, backend: backend)
            let state = try kernelState(for: target, known: TenantState(name: target.name, cgroupPath: target.cgroupPath), book: book)
            books.append(book)
            return partition.add(state)
        }
        if books[slot].cgroupPath != target.cgroupPath {
            // The tenant moved to another cgroup (a container recreated under the same name). The new cgroup holds the
            // kernel's values, not what was written to the old one: every knob is learnt afresh, and the old one's
            // files close.
            let book = TenantBook(cgroupPath: target.cgroupPath, backend: backend)
            let state = try kernelState(for: target, known: TenantState(name: target.name, cgroupPath: target.cgroupPath), book: book)
            files.forget(filesIn: Set(backend.directories(of: books[slot].cgroupPath)))
            books[slot] = book
            partition.replace(at: slot, with: state)
            return slot
        }
        if CgroupKnob.allCases.contains(where: { target.settings[$0] != nil && partition.tenants[slot].settings[$0] == nil }) {
            partition.replace(at: slot, with: try kernelState(for: target, known: partition.tenants[slot], book: books[slot]))
        }
        return slot
    }

    /// `known` with every knob the target manages and `known` lacks read from the kernel.
    private func kernelState(for target: TenantState, known: TenantState, book: TenantBook) throws(EnforceError) -> TenantState {
        var state = known
        for knob in CgroupKnob.allCases where target.settings[knob] != nil && state.settings[knob] == nil {
            guard let path = book.paths[knob.position] else {
                state.settings[knob] = target.settings[knob]
                continue
            }
            let text = try files.read(path)
            guard let value = backend.decode(knob, text) else { throw .unparsable(path: path, content: text) }
            state.settings[knob] = value
        }
        return state
    }

    /// Sets up a link's shaping tree. The link goes into the baseline (and the state file) before anything is made
    /// there, so restore takes the tree down also after a failed apply or a crash; a link that does not exist is
    /// taken out again. A steady tick finds the link recorded and prepared: a scan of a few names, no I/O.
    private func prepare(link: String, with bandwidth: any BandwidthControl) throws(EnforceError) {
        let recorded = baseline.shapedLinks.contains(link)
        if !recorded {
            baseline.shapedLinks.append(link)
            try baseline.save(to: stateFilePath)
        }
        do {
            if try bandwidth.prepare(link: link) { try recordClsact(on: link) }
        } catch .deviceMissing {
            if !recorded {
                baseline.shapedLinks.removeAll { $0 == link }
                try baseline.save(to: stateFilePath)
            }
            throw .deviceMissing(link)
        }
    }

    /// Notes that Enforce made the link's clsact qdisc (restore deletes it; one that was there stays).
    private func recordClsact(on link: String) throws(EnforceError) {
        guard !baseline.clsactLinks.contains(link) else { return }
        baseline.clsactLinks.append(link)
        try baseline.save(to: stateFilePath)
    }

    /// Takes down everything Enforce set up in the network: ingress shaping (redirect, then the ifb device), the
    /// HTB trees and the classifier, then the clsact qdiscs it created (their filters are gone by then).
    private func restoreNetwork(into report: inout RestoreReport) {
        let links = Set(baseline.shapedLinks).union(baseline.clsactLinks).union(baseline.ingressDevices.keys)
        guard let bandwidth else {
            report.failures += links.sorted().map { .shapingLeft(link: $0) }
            return
        }
        for (link, device) in baseline.ingressDevices.sorted(by: { $0.key < $1.key }) {
            do { try bandwidth.removeIngressShaping(link: link, device: device) } catch { report.failures.append(error) }
        }
        for link in baseline.shapedLinks {
            do { try bandwidth.remove(link: link) } catch { report.failures.append(error) }
        }
        for link in baseline.clsactLinks {
            do { try bandwidth.removeClsact(link: link) } catch { report.failures.append(error) }
        }
    }

    /// Saves the original value of every file the plan will touch for the first time, then the state file.
    private func recordOriginals() throws(EnforceError) {
        var changed = false
        for (change, slot) in zip(buffers.plan, buffers.planSlots) {
            switch change.target {
            case let .knob(knob, _):
                let bit = UInt8(1) << knob.position
                guard books[slot].recordedKnobs & bit == 0 else { continue }
                if let path = books[slot].paths[knob.position], !baseline.contains(path) {
                    baseline.record(path: path, original: try files.read(path))
                    changed = true
                    if backend.version == .v1, knob == .cpuQuota {
                        // Quotas are written against Enforce's period (10 ms, not the kernel's default): set the tenant's to it.
                        let periodPath = backend.directory(of: books[slot].cgroupPath, controller: "cpu") + "/cpu.cfs_period_us"
                        let period = try files.read(periodPath)
                        baseline.record(path: periodPath, original: period)
                        if period != String(CgroupBackend.cpuPeriodMicroseconds) {
                            try baseline.save(to: stateFilePath)
                            try files.write(String(CgroupBackend.cpuPeriodMicroseconds), to: periodPath)
                        }
                    }
                }
                books[slot].recordedKnobs |= bit
            case .bandwidth:
                // The link is recorded already (`prepare(link:with:)`).
                if baseline.classMinors[change.tenant] == nil { _ = baseline.classMinor(of: change.tenant); changed = true }
            case .threadAffinity:
                for thread in partition.tenants[slot].pinnedThreadIDs where !baseline.contains(thread: thread) {
                    // A thread that is gone already is not pinned either (its write answers ESRCH).
                    guard let startTime = threadStartTime(thread) else { continue }
                    switch files.kernel.threadAffinity(threadID: thread) {
                    case let .success(cpus):
                        baseline.record(thread: Baseline.PinnedThread(threadID: thread, startTime: startTime, originalCPUs: cpus))
                        changed = true
                    case let .failure(code) where code.rawValue == ESRCH:
                        continue
                    case let .failure(code):
                        throw .threadAffinity(threadID: thread, cpus: CPUSet(), errno: code)
                    }
                }
            }
        }
        for (slot, target) in zip(changedSlots, targets) where !books[slot].inBaseline {
            // The target says which knobs are managed: adoption reads those back.
            if !baseline.contains(tenant: target.name) {
                baseline.record(tenant: target)
                changed = true
            }
            books[slot].inBaseline = true
        }
        if changed { try baseline.save(to: stateFilePath) }
    }

    /// When a thread started (field 22 of `/proc/TID/stat`, in clock ticks since boot); nil when it is gone.
    private func threadStartTime(_ threadID: Int32) -> String? {
        guard case let .success(text) = files.kernel.read("/proc/\(threadID)/stat"),
              let end = text.lastIndex(of: ")") else { return nil }
        // The fields after the command name start with field 3 (state).
        let fields = text[text.index(after: end)...].split(separator: " ")
        return fields.count > 19 ? String(fields[19]) : nil
    }

    /// Makes one change in the kernel; `inverse` holds the value it replaces (the nodes pages move off).
    private func perform(_ change: PlannedChange, undoing inverse: PlannedChange, slot: Int) throws(EnforceError) {
        switch change.target {
        case let .knob(knob, value):
            guard let path = books[slot].paths[knob.position] else { return }
            try files.write(backend.encode(knob, value), to: path)
            if knob == .mems, case let .set(newNodes) = value, case let .knob(_, .set(oldNodes)) = inverse.target {
                try migratePages(ofSlot: slot, from: oldNodes.subtracting(newNodes), to: newNodes)
            }
        case let .bandwidth(link, ceil):
            guard let bandwidth else { throw .deviceMissing(link) }
            let rate = min(partition.tenants[slot].guaranteed.networkBitsPerSecond, ceil)
            try bandwidth.setRate(
                link: link, classMinor: baseline.classMinor(of: change.tenant), tenant: partition.tenants[slot],
                rateBitsPerSecond: rate, ceilBitsPerSecond: ceil
            )
        case let .threadAffinity(cpus):
            for thread in partition.tenants[slot].pinnedThreadIDs {
                let result = files.kernel.setThreadAffinity(threadID: thread, cpus: cpus)
                if result != 0 && result != ESRCH { throw .threadAffinity(threadID: thread, cpus: cpus, errno: ErrnoCode(result)) }
            }
        }
    }

    /// Moves the pages of every process of the tenant off the nodes it lost (libnuma).
    private func migratePages(ofSlot slot: Int, from lost: CPUSet, to nodes: CPUSet) throws(EnforceError) {
        guard !lost.isEmpty else { return }
        let procs = try files.read(backend.directory(of: books[slot].cgroupPath, controller: "cpuset") + "/cgroup.procs")
        for line in procs.split(separator: "\n") {
            guard let pid = Int32(line) else { continue }
            let result = files.kernel.migratePages(processID: pid, fromNodes: lost, toNodes: nodes)
            if result != 0 && result != ESRCH { throw .pageMigration(processID: pid, toNodes: nodes, errno: ErrnoCode(result)) }
        }
    }

    /// Undoes the steps made before `failedStep`, newest first, and leaves the partition state at what the kernel
    /// then holds; returns how many were undone.
    private func rollBack(failedStep: Int) -> Int {
        putBackJournal()
        for step in 0..<failedStep { partition.force(buffers.plan[step], at: buffers.planSlots[step]) }
        var restored = 0
        for step in (0..<failedStep).reversed() {
            let slot = buffers.planSlots[step]
            if (try? perform(buffers.inverses[step], undoing: buffers.plan[step], slot: slot)) != nil {
                partition.force(buffers.inverses[step], at: slot)
                restored += 1
            }
        }
        return restored
    }

    /// Puts the changed tenants' states back as they were before the apply.
    private func putBackJournal() {
        for (slot, saved) in zip(changedSlots, journal) { partition.replace(at: slot, with: saved) }
        for (slot, link, rate) in journalRates {
            partition.force(PlannedChange(tenant: partition.tenants[slot].name, target: .bandwidth(link: link, bitsPerSecond: rate)), at: slot)
        }
    }
}

/// What the `Enforcer` keeps per tenant slot besides the tenant's state: its last request as given, the paths of its
/// control files (built once, not on every write), and which knobs' originals are already in the baseline.
struct TenantBook {
    var lastRequested: TenantState?
    let cgroupPath: String
    /// The file of each knob, by `CgroupKnob.position`; nil when the backend has none.
    let paths: [String?]
    let memoryUsagePath: String
    /// Bit `knob.position` set: that file's original is in the baseline.
    var recordedKnobs: UInt8 = 0
    /// The tenant is in the baseline's tenant list (for adoption).
    var inBaseline = false

    init(cgroupPath: String, backend: CgroupBackend) {
        self.cgroupPath = cgroupPath
        paths = CgroupKnob.allCases.map { backend.file($0, of: cgroupPath) }
        memoryUsagePath = Self.memoryUsagePath(of: cgroupPath, backend: backend)
    }

    /// Whether `request` equals the last request (compared in place: no copy of either state).
    func isLastRequest(_ request: TenantState) -> Bool {
        guard let last = lastRequested else { return false }
        return last == request
    }

    static func memoryUsagePath(of cgroupPath: String, backend: CgroupBackend) -> String {
        backend.directory(of: cgroupPath, controller: "memory") + (backend.version == .v1 ? "/memory.usage_in_bytes" : "/memory.current")
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
