import CLoopSystem
import Discover
import Foundation
import Glibc
import Pool

/// The agent behind `dpm run`: owns every thread and the lifecycle.
///
/// The main thread is the slow side: it builds tenant tables, retires tenants whose cgroup vanished, adds tenants
/// whose cgroup appeared, logs what the loop decided, and handles SIGTERM/SIGINT by stopping the tick, restoring
/// the baseline and releasing the kernel objects. The tick runs on its own pthread (`TickThread`); the control API
/// and the metrics endpoint run on their own threads and read the published snapshot.
public final class Agent: @unchecked Sendable {
    public enum Mode: String, Sendable {
        case enforce
        case dryRun = "dry-run"
    }

    /// The module implementations the loop drives.
    public struct Components {
        public var telemetry: any TelemetrySource
        public var forecaster: any DemandForecaster
        public var solver: any AllocationSolving
        public var enforcer: any AllocationEnforcing
        public init(
            telemetry: any TelemetrySource, forecaster: any DemandForecaster, solver: any AllocationSolving, enforcer: any AllocationEnforcing
        ) {
            self.telemetry = telemetry
            self.forecaster = forecaster
            self.solver = solver
            self.enforcer = enforcer
        }
    }

    public let config: AgentConfig
    public let mode: Mode
    public let loop: ControlLoop
    private let components: Components
    private let host: HostCapacity
    private let log: @Sendable (String) -> Void

    private var slots: SlotAllocator
    private var generation: UInt64 = 0
    /// Tenants of the configuration whose cgroup does not exist yet (checked again every second).
    private var waiting: [TenantSpec] = []
    private let tableLock = NSLock()
    private var published: TenantTable?
    /// The table the tick must adopt before slots it dropped may be reused.
    private var awaitingAdoption: UInt64?
    /// What the tenant sources found last (Discovery's merged table), not yet taken in by the main thread.
    private var discoveredInbox: [TenantSpec]?
    /// Names of the tenants that came from a source rather than the configuration.
    private var discoveredNames: Set<String> = []
    /// Tenants taken out of the table that Enforce still counts. Enforce forgets each (its state, descriptors and
    /// baseline entries) once the tick runs a table without it and its cgroup is gone; a tenant a source stops
    /// reporting while its cgroup lives on keeps what it was given, and counts for capacity, until then.
    private var leaving = LeavingTenants()
    /// After this long on the leaving list a tenant is logged with why it stays.
    private static let leavingOverdueNanoseconds: UInt64 = 60_000_000_000
    private var loggedSolves = 0
    /// The link to the central service, when the configuration names one (see `CentralLink` for the prior rule).
    private var central: CentralLink?
    /// Whether tenants' cgroups are still there (asked for every tenant every 100 ms).
    private let presence: CgroupPresence

    public init(config: AgentConfig, mode: Mode, components: Components, capacity: Int = 256, log: @escaping @Sendable (String) -> Void) throws(AgentError) {
        guard config.tenants.count <= capacity else { throw .tooManyTenants(count: config.tenants.count, capacity: capacity) }
        self.config = config
        self.mode = mode
        self.components = components
        self.log = log
        host = try HostProbe.capacity(config: config)
        slots = SlotAllocator(capacity: capacity)
        presence = CgroupPresence(cgroupRoot: config.cgroupRoot)
        loop = ControlLoop(
            config: config, capacity: capacity, telemetry: components.telemetry, forecaster: components.forecaster,
            enforcer: components.enforcer
        )
    }

    /// Runs until SIGTERM or SIGINT, or for `durationNanoseconds` when given; then restores and cleans up.
    ///
    /// With `recordPath`, every 100 ms one tab-separated line per tenant is appended there: seconds since start,
    /// tenant, CPU used (averaged over ~100 ticks), CPU forecast at quantile, CPU allocated (exclusive cores plus
    /// quota), all in cores — what `scripts/plot-svg.awk` draws.
    public func run(durationNanoseconds: UInt64?, recordPath: String? = nil) throws(AgentError) {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, signal) }
        // Blocked before any thread starts, so every thread inherits the mask and only sigtimedwait below sees them.
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        try makeStateDirectory()
        if let settings = config.central { central = try CentralLink(settings: settings, stateDirectory: config.stateDirectory, log: log) }
        let initial = config.tenants.filter { spec in attachable(spec) }
        waiting = config.tenants.filter { spec in !initial.contains(spec) }
        for spec in waiting { log("tenant \(spec.name): cgroup \(spec.cgroupPath) not found; waiting for it") }
        do {
            for line in try components.enforcer.start(specs: initial) { log(line) }
        } catch {
            throw .unavailable(module: "Enforce", reason: "\(error)")
        }
        try publishTable(initial)

        let tick = TickThread(
            loop: loop, periodNanoseconds: config.tickNanoseconds,
            placement: .init(realtimePriority: config.realtimePriority, cpu: config.tickCPU ?? config.reserve.coreIDs.first)
        )
        try tick.start()
        for warning in tick.placementWarnings { log("warning: \(warning)") }

        let control = try ControlServer(socketPath: config.controlSocketPath) { [self] request in self.answer(request) }
        var servers: [AcceptThread] = []
        if let port = config.metricsPort {
            let metrics = try Sockets.listenLoopback(port: port)
            servers.append(AcceptThread(listener: metrics, name: "dpm-metrics") { [self] client in
                MetricsHTTP.serve(client) { Metrics.render(report: self.status(), histograms: self.loop.histograms) }
            })
        }
        for server in servers { server.start() }
        log("dpm \(mode.rawValue): \(initial.count) tenants, tick \(Units.formatNanoseconds(Double(config.tickNanoseconds))), telemetry \(components.telemetry.sourceName), control \(config.controlSocketPath)\(config.metricsPort.map { ", metrics 127.0.0.1:\($0)" } ?? "")")

        let discovery = startDiscovery()
        central?.start()

        let started = dpm_monotonic_ns()
        var lastRetry = started
        var recorder: FileHandle?
        if let recordPath {
            _ = FileManager.default.createFile(atPath: recordPath, contents: nil)
            recorder = FileHandle(forWritingAtPath: recordPath)
        }
        defer { try? recorder?.close() }
        var timeout = timespec(tv_sec: 0, tv_nsec: 100_000_000)
        while true {
            let signal = sigtimedwait(&signals, nil, &timeout)
            if signal > 0 {
                log("signal \(signal): stopping")
                break
            }
            let now = dpm_monotonic_ns()
            if let durationNanoseconds, now - started >= durationNanoseconds { break }
            logNewSolves()
            if let recorder { record(to: recorder, secondsSinceStart: Double(now - started) / 1e9) }
            let retryWaiting = now - lastRetry >= 1_000_000_000
            housekeep(retryWaiting: retryWaiting)
            if retryWaiting { lastRetry = now }
            if central != nil { syncCentral() }
        }

        discovery?.cancel()
        tick.stop()
        logNewSolves()
        for server in servers { server.stop() }
        control.stop()
        do {
            for line in try components.enforcer.restore() { log(line) }
        } catch {
            log("restore failed: \(error)")
        }
        components.telemetry.close()
        central?.stop()
        let report = status()
        log("stopped after \(report.loop.ticks) ticks (\(report.loop.missed_ticks) missed), \(report.loop.solves) solves; tick lateness p99 \(Units.formatNanoseconds(Double(report.loop.lateness_p99_ns))), work p99 \(Units.formatNanoseconds(Double(report.loop.work_p99_ns)))")
    }

    // MARK: Tenant table

    private func attachable(_ spec: TenantSpec) -> Bool {
        guard let (slot, _) = slots.slot(for: spec.name) else { return false }
        do {
            try components.telemetry.attach(slot: slot, cgroupPath: spec.cgroupPath)
            let prior = central?.cpuPrior(for: spec, workload: config.workload(of: spec))
            components.forecaster.prepare(slot: slot, spec: spec, cpuPrior: prior)
            if let prior { log("tenant \(spec.name): forecaster starts from central's CPU prior (level \(String(format: "%.3f", prior.level)) cores)") }
            return true
        } catch {
            slots.release(spec.name)
            return false
        }
    }

    // MARK: Tenant sources

    /// Follows the configured tenant sources on Swift's pool (never the tick thread); every merged table they
    /// report lands in the inbox that `housekeep` empties. Nil when the configuration names no source.
    private func startDiscovery() -> Task<Void, Never>? {
        guard !config.sources.isEmpty else { return nil }
        let cgroups = CgroupFS.detect()
        let discovery = Discovery(sources: config.sources.map { $0.makeSource(cgroups: cgroups) })
        log("tenant sources: \(config.sources.map(\.description).joined(separator: ", "))")
        return Task.detached { [self] in
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await discovery.run() }
                group.addTask {
                    for await event in await discovery.events() {
                        switch event {
                        case let .table(table): self.offer(discovered: table.tenants.map(\.spec))
                        case let .warning(warning): self.log("tenant sources: \(warning)")
                        }
                    }
                }
            }
        }
    }

    private func offer(discovered specs: [TenantSpec]) {
        tableLock.withLock { discoveredInbox = specs }
    }

    /// Takes in what the sources found: adopts new tenants (or waits for their cgroup), updates changed specs,
    /// retires those no source reports any more. A configured tenant of the same name wins over a found one.
    private func adoptDiscovered(into specs: inout [TenantSpec]) -> Bool {
        guard let found = tableLock.withLock({ () -> [TenantSpec]? in
            defer { discoveredInbox = nil }
            return discoveredInbox
        }) else { return false }
        let configured = Set(config.tenants.map(\.name))
        var wanted: [String: TenantSpec] = [:]
        for var spec in found where !configured.contains(spec.name) {
            if spec.cgroupPath.hasPrefix("/") { spec.cgroupPath.removeFirst() }
            if spec.slo == ServiceLevelObjective(), let objective = config.classObjectives[spec.tenantClass] { spec.slo = objective }
            wanted[spec.name] = spec
        }
        var changed = false
        for name in discoveredNames.sorted() where wanted[name] == nil {
            log("tenant \(name): no longer reported by its source; retired")
            if let index = specs.firstIndex(where: { $0.name == name }) {
                leave(specs.remove(at: index))
                changed = true
            }
            waiting.removeAll { $0.name == name }
        }
        for (name, spec) in wanted.sorted(by: { $0.key < $1.key }) {
            if let index = specs.firstIndex(where: { $0.name == name }) {
                guard specs[index] != spec else { continue }
                log("tenant \(name): its source changed its class, objective or limits")
                specs[index] = spec
                changed = true
            } else if attachable(spec) {
                log("tenant \(name): found by its source (cgroup \(spec.cgroupPath)); adopted")
                specs.append(spec)
                leaving.readopt(name)
                waiting.removeAll { $0.name == name }
                changed = true
            } else if !waiting.contains(where: { $0.name == name }) {
                log("tenant \(name): found by its source but cgroup \(spec.cgroupPath) cannot be watched yet; waiting for it")
                waiting.append(spec)
            }
        }
        discoveredNames = Set(wanted.keys)
        return changed
    }

    /// Builds the table for `specs` with its solver plan and offers it to the tick.
    private func publishTable(_ specs: [TenantSpec]) throws(AgentError) {
        let plan: any SolvePlan
        do {
            plan = try components.solver.plan(host: host, specs: specs, current: currentTable() == nil ? Allocation() : lastApplied())
        } catch {
            throw .unavailable(module: "Solve", reason: "cannot set up the solver for \(specs.count) tenants: \(error)")
        }
        generation += 1
        let table = TenantTable(
            generation: generation, host: host, specs: specs, slots: specs.map { slots.slot(for: $0.name)!.slot }, plan: plan,
            cpuPriors: specs.map { central?.cpuPrior(for: $0, workload: config.workload(of: $0)) }
        )
        tableLock.withLock { published = table }
        awaitingAdoption = generation
        loop.tables.publish(table)
    }

    /// Retires vanished tenants and adds appeared ones, one table change at a time.
    private func housekeep(retryWaiting: Bool) {
        if let pending = awaitingAdoption {
            guard loop.tables.currentGeneration >= pending else { return }
            awaitingAdoption = nil
            let keep = Set(currentTable()?.specs.map(\.name) ?? [])
            for slot in slots.release(allBut: keep) { components.telemetry.detach(slot: slot) }
            forgetLeftTenants(served: keep)
        }
        guard let table = currentTable() else { return }
        let views = loop.snapshot.read(slots: table.slots).tenants
        var specs = table.specs
        var changed = false
        for (spec, view) in zip(table.specs, views) where view.vanished || !presence.exists(spec.cgroupPath) {
            log("tenant \(spec.name): cgroup \(spec.cgroupPath) vanished; retired")
            specs.removeAll { $0.name == spec.name }
            leave(spec)
            waiting.append(spec)
            changed = true
        }
        if adoptDiscovered(into: &specs) { changed = true }
        if retryWaiting {
            // `table` is the one the tick runs: a tenant retired above is still in it, and stays on the list.
            let served = Set(table.specs.map(\.name))
            forgetLeftTenants(served: served)
            for line in leaving.reportOverdue(
                nowNanoseconds: dpm_monotonic_ns(), limitNanoseconds: Self.leavingOverdueNanoseconds, served: served,
                lingering: presence.directory(of:)
            ) { log(line) }
            for spec in waiting where !specs.contains(where: { $0.name == spec.name }) && attachable(spec) {
                log("tenant \(spec.name): cgroup \(spec.cgroupPath) found; adopted")
                specs.append(spec)
                leaving.readopt(spec.name)
                waiting.removeAll { $0.name == spec.name }
                changed = true
            }
        }
        if changed {
            do {
                try publishTable(specs)
            } catch {
                log("tenant table change not applied: \(error)")
            }
        }
    }

    private func leave(_ spec: TenantSpec) {
        leaving.leave(spec, nowNanoseconds: dpm_monotonic_ns())
    }

    /// Has Enforce forget the tenants that left the table `served` names (the one the tick runs) and whose cgroup is
    /// gone.
    private func forgetLeftTenants(served: Set<String>) {
        for spec in leaving.takeForgettable(served: served, cgroupExists: presence.exists) {
            for line in components.enforcer.retire(tenant: spec.name) { log(line) }
            presence.forget(spec.cgroupPath)
        }
    }

    // MARK: Central

    /// Hands the central link a read of the running tenants; when central's priors changed any tenant's, publishes
    /// the same tenants again so the tick adopts the new priors at a tick boundary.
    private func syncCentral() {
        guard let central, awaitingAdoption == nil, let table = currentTable() else { return }
        var realtime = timespec()
        clock_gettime(CLOCK_REALTIME, &realtime)
        central.sample(
            specs: table.specs, views: loop.snapshot.read(slots: table.slots).tenants, waiting: waiting, workload: config.workload(of:),
            epochNanoseconds: UInt64(realtime.tv_sec) * 1_000_000_000 + UInt64(realtime.tv_nsec)
        )
        guard central.takePriors() else { return }
        let priors = table.specs.map { central.cpuPrior(for: $0, workload: config.workload(of: $0)) }
        guard priors != table.cpuPriors else { return }
        do {
            try publishTable(table.specs)
            log("central: new CPU priors handed to the tick for \(zip(priors, table.cpuPriors).filter { $0 != $1 }.count) tenants")
        } catch {
            log("central: new priors not applied: \(error)")
        }
    }

    private func currentTable() -> TenantTable? { tableLock.withLock { published } }

    /// The allocation of the newest solve record (what the tick applied last), as the warm start of a new plan.
    private func lastApplied() -> Allocation { loop.history.recent().first?.applied ?? Allocation() }

    private func logNewSolves() {
        let total = loop.history.appendedCount
        // Most 100 ms passes see no new solve: copying the history then was a tenth of the main thread's CPU.
        guard total != loggedSolves else { return }
        let records = loop.history.recent()
        let fresh = records.prefix(max(0, min(total - loggedSolves, SolveHistory.capacity)))
        loggedSolves = total
        for record in fresh.reversed() where !record.changes.isEmpty || record.failure != nil {
            let verb = mode == .dryRun ? "would apply" : "applied"
            let what = record.changes.map { change in
                "\(change.tenant): cpu \(String(format: "%.2f", change.beforeCpuCores))→\(String(format: "%.2f", change.afterCpuCores)) cores\(change.beforeCoreIDs != change.afterCoreIDs ? " exclusive \(change.beforeCoreIDs)→\(change.afterCoreIDs)" : "")"
            }.joined(separator: "; ")
            log(record.failure.map { "solve failed (\(record.reason)): \($0)" } ?? "\(verb) (\(record.reason)): \(what)")
        }
    }

    private func record(to file: FileHandle, secondsSinceStart: Double) {
        let lines = status().tenants.map { tenant in
            "\(secondsSinceStart)\t\(tenant.name)\t\(tenant.usage_cpu_cores_avg)\t\(tenant.forecast.cpu_at_quantile)\t\(Double(tenant.cores.count) + tenant.cpu_quota_cores)\n"
        }
        file.write(Data(lines.joined().utf8))
    }

    private func makeStateDirectory() throws(AgentError) {
        if mkdir(config.stateDirectory, 0o700) != 0, errno != EEXIST {
            throw .socket(path: config.stateDirectory, call: "mkdir", errno: errno)
        }
    }

    // MARK: Reports

    /// The current status (any thread but the tick).
    public func status() -> StatusReport {
        let table = currentTable()
        let snapshot = loop.snapshot.read(slots: table?.slots ?? [])
        return StatusReport.make(
            mode: mode.rawValue, telemetry: components.telemetry.sourceName, config: config, table: table,
            loop: snapshot.loop, views: snapshot.tenants, histograms: loop.histograms
        )
    }

    private func answer(_ request: ControlRequest) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        switch request.command {
        case "status":
            return (try? encoder.encode(status())) ?? ControlProtocol.encodeError("cannot encode the status")
        case "explain":
            let report = status()
            guard let name = request.tenant, let tenant = report.tenants.first(where: { $0.name == name }),
                  let spec = currentTable()?.specs.first(where: { $0.name == name }) else {
                return ControlProtocol.encodeError("no tenant named '\(request.tenant ?? "")'; tenants: \(report.tenants.map(\.name).joined(separator: ", "))")
            }
            let explain = ExplainReport.make(tenant: tenant, spec: spec, history: loop.history.recent())
            return (try? encoder.encode(explain)) ?? ControlProtocol.encodeError("cannot encode the explanation")
        default:
            return ControlProtocol.encodeError("unknown command '\(request.command)'; expected status or explain")
        }
    }
}
