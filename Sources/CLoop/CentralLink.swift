import CentralSync
import Foundation
import Glibc
import Pool

/// The agent's side of the central service: uploads each tenant's CPU history, takes priors back.
///
/// Three parties, none of them the tick thread:
/// - the agent's main thread calls `sample` every housekeeping round (~100 ms) with the tenants of the current table
///   and what the tick published for them; completed intervals go to the outbox. It also calls `takePriors` and
///   `cpuPrior(for:)`: the priors it keeps are only ever read and written there.
/// - `CentralSyncClient.run`, on Swift's pool, empties the outbox into its on-disk spool every interval, uploads
///   with backoff, and fetches priors for `descriptors` (current tenants and those waiting for their cgroup);
///   central's answers land in an inbox.
/// - the lock guards only the outbox, the descriptors and the inbox, each held for a copy.
///
/// The rule for priors (central's CPU prior of a tenant, else the class prior its workload label was last
/// answered with): the main thread hands one to `DemandForecaster.prepare` when a tenant joins, so a new tenant
/// starts from its class prior; and puts one per tenant into every `TenantTable` it publishes. The tick thread
/// itself hands a table's priors to the forecasters when it adopts the table, at a tick boundary
/// (`DemandForecaster.adopt`), so a forecaster is only ever touched by one thread at a time (for a slot in the
/// table, the tick's; `prepare` runs only before a slot joins). When priors change,
/// the agent publishes the same tenants again with the new priors.
final class CentralLink: @unchecked Sendable {
    let hostID: String
    let settings: AgentConfig.Central
    private let client: CentralSyncClient
    private let log: @Sendable (String) -> Void

    private let lock = NSLock()
    private var outbox: [IntervalSummary] = []
    private var descriptors: [TenantDescriptor] = []
    private var inbox: PriorsResponse?
    private var failing = false
    private var uploadedBefore = false

    // Main thread only.
    private var intervals: UsageIntervals
    private var tenantPriors: [String: SeasonalPrior] = [:]
    private var workloadPriors: [String: SeasonalPrior] = [:]
    private var task: Task<Void, Never>?

    /// Reads the token file and opens the spool (`central-spool` under `stateDirectory` unless configured).
    init(settings: AgentConfig.Central, stateDirectory: String, log: @escaping @Sendable (String) -> Void) throws(AgentError) {
        self.settings = settings
        self.log = log
        guard let data = FileManager.default.contents(atPath: settings.tokenFile),
              let token = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty else {
            throw .unavailable(module: "central sync", reason: "cannot read a bearer token from \(settings.tokenFile) (central.token_file)")
        }
        hostID = settings.hostID ?? Self.hostName()
        intervals = UsageIntervals(intervalSeconds: settings.intervalSeconds)
        let spool = settings.spoolDirectory ?? "\(stateDirectory)/central-spool"
        do {
            client = try CentralSyncClient(configuration: CentralSyncConfiguration(
                baseURL: settings.url, hostID: hostID, token: token, spoolDirectory: URL(fileURLWithPath: spool),
                uploadIntervalSeconds: Double(settings.intervalSeconds), priorRefreshSeconds: settings.priorRefreshSeconds,
                maxBackoffSeconds: max(10, min(300, 5 * Double(settings.intervalSeconds)))
            ))
        } catch {
            throw .unavailable(module: "central sync", reason: "\(error)")
        }
    }

    /// Starts the sync loop on Swift's pool.
    func start() {
        log("central: \(settings.url.absoluteString) as host \(hostID), every \(settings.intervalSeconds) s, priors every \(Int(settings.priorRefreshSeconds)) s, spool \(client.spool.directory.path)")
        task = Task.detached { [self, client] in
            await client.run(
                summaries: { self.lock.withLock { defer { self.outbox = [] }; return self.outbox } },
                tenants: { self.lock.withLock { self.descriptors } },
                deliver: { response in self.lock.withLock { self.inbox = response } },
                onUpload: { report in self.noteUpload(report) },
                onError: { error in self.noteError(error) }
            )
        }
    }

    /// Stops the sync loop; completed intervals it had not taken yet are spooled for the next start.
    func stop() {
        guard let task else { return }
        task.cancel()
        let ended = DispatchSemaphore(value: 0)
        Task.detached {
            await task.value
            ended.signal()
        }
        guard ended.wait(timeout: .now() + 5) == .success else {
            log("central: the sync loop did not stop within 5 s; \(lock.withLock { outbox.count }) summaries not spooled")
            return
        }
        let left = lock.withLock { defer { outbox = [] }; return outbox }
        guard !left.isEmpty else { return }
        do { _ = try client.spool.append(UploadBody(summaries: left)) } catch {
            log("central: \(left.count) summaries not spooled: \(error)")
        }
    }

    // MARK: Main thread

    /// Folds one read of the table's tenants (`views[i]` for `specs[i]`; vanished ones are skipped) and names the
    /// tenants to fetch priors for: those of the table and those in `waiting`.
    func sample(specs: [TenantSpec], views: [TenantView], waiting: [TenantSpec], workload: (TenantSpec) -> String, epochNanoseconds: UInt64) {
        let wanted = (specs + waiting).map { TenantDescriptor(tenant: $0.name, tenantClass: $0.tenantClass, workload: workload($0)) }
        let readings = zip(wanted.prefix(specs.count), views).filter { !$0.1.vanished }.map { tenant, view in
            UsageIntervals.Reading(tenant: tenant, cpuNanosecondsTotal: view.cpuNanosecondsTotal)
        }
        let closed = intervals.add(readings, atEpochNanoseconds: epochNanoseconds)
        lock.withLock {
            outbox += closed
            descriptors = wanted
        }
    }

    /// Takes in central's newest answer, if one arrived; true when it changed any prior.
    func takePriors() -> Bool {
        guard let response = lock.withLock({ () -> PriorsResponse? in
            defer { inbox = nil }
            return inbox
        }) else { return false }
        var tenants: [String: SeasonalPrior] = [:]
        var workloads = workloadPriors
        let labels = lock.withLock { Dictionary(descriptors.map { ($0.tenant, $0.workload) }, uniquingKeysWith: { first, _ in first }) }
        for prior in response.priors where prior.resource == .cpu {
            tenants[prior.tenant] = prior.seasonalPrior
            if prior.source != .tenant, let workload = labels[prior.tenant] { workloads[workload] = prior.seasonalPrior }
        }
        let sources = Dictionary(grouping: response.priors.filter { $0.resource == .cpu }, by: \.source).mapValues(\.count)
        log("central: CPU priors for \(tenants.count) tenants (own history \(sources[.tenant] ?? 0), workload class \(sources[.workloadClass] ?? 0), all tenants \(sources[.global] ?? 0)); none yet for \(response.missing.count)")
        let changed = tenants != tenantPriors || workloads != workloadPriors
        tenantPriors = tenants
        workloadPriors = workloads
        return changed
    }

    /// The CPU prior for `spec`: its own (as central last answered), else the class prior of its workload label.
    func cpuPrior(for spec: TenantSpec, workload: String) -> SeasonalPrior? {
        tenantPriors[spec.name] ?? workloadPriors[workload]
    }

    // MARK: Sync loop

    private func noteUpload(_ report: FlushReport) {
        let (recovered, first) = lock.withLock { () -> (Bool, Bool) in
            defer { (failing, uploadedBefore) = (false, true) }
            return (failing, !uploadedBefore)
        }
        guard recovered || first else { return }
        let sent = report.stored + report.duplicates
        log("central: \(recovered ? "reachable again; caught up with" : "uploaded") \(sent.count) uploads (sequences \(sent.min() ?? 0)...\(sent.max() ?? 0))\(report.rejected.isEmpty ? "" : ", \(report.rejected.count) refused and set aside")")
    }

    private func noteError(_ error: CentralSyncError) {
        let pending = (try? client.spool.pendingSequences().count) ?? 0
        lock.withLock { failing = true }
        log("central: \(error); \(pending) uploads spooled, retrying with backoff")
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
