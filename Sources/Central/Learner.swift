import CentralLearning
import CentralSync
import Foundation
import Pool
import ServiceLifecycle
import Synchronization

/// How the learner works through uploads.
public struct LearnerConfiguration: Sendable {
    /// Step of the learnt profiles (5 minutes: a weekly profile has 2,016 steps).
    public var stepSeconds: Int = 300
    /// History considered for a tenant's model: two weeks and a day, enough for a weekly profile.
    public var windowSeconds: Int = 15 * 86_400
    /// A tenant is refitted at most this often, however often it uploads (priors describe slow patterns).
    public var refitSeconds: Double = 600
    /// Class priors (shape clustering) are recomputed at most this often.
    public var classRecomputeSeconds: Double = 60
    /// How often the learner wakes to look for work.
    public var roundSeconds: Double = 2
    /// Caps the learner's store reads (one series query per tenant) so ingest keeps the store: 100 fits/s at the
    /// default round, enough to refit 60,000 tenants every 10 minutes.
    public var maxTenantsPerRound: Int = 200
    /// A tenant with fewer observed steps is served its class prior instead of its own.
    public var minimumOwnHistorySteps: Int = 12

    public init() {}
}

/// Learns priors off the request path: uploads mark their tenants dirty; a background round refits each dirty
/// tenant's seasonal decomposition from the store, then regroups tenants by shape into class priors.
public final class Learner: Service, Sendable {
    public let configuration: LearnerConfiguration
    private let store: any CentralStore
    private let metrics: CentralMetrics
    private let nowSeconds: @Sendable () -> Int64

    private struct Labels: Sendable, Hashable {
        var tenantClass: TenantClass
        var workload: String
        /// Key of the class prior the tenant contributes to and, when new, is served.
        var classKey: String { workload.isEmpty ? "class:\(tenantClass.rawValue)" : workload }
    }

    private struct State: Sendable {
        var labels: [String: Labels] = [:]
        var dirty: Set<String> = []
        var lastFitUptime: [String: Double] = [:]
        var models: [String: [ResourceKind: TenantModel]] = [:]
        var classPriors: [String: [ResourceKind: SeasonalPrior]] = [:]
        var globalPriors: [ResourceKind: SeasonalPrior] = [:]
        var classesStale = false
        var lastClassRecomputeUptime = -Double.infinity
    }

    private let state = Mutex(State())

    public init(
        store: any CentralStore, metrics: CentralMetrics, configuration: LearnerConfiguration = LearnerConfiguration(),
        nowSeconds: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.store = store
        self.metrics = metrics
        self.configuration = configuration
        self.nowSeconds = nowSeconds
    }

    /// Records an accepted upload's tenants for the next round. Cheap: called on the request path.
    public func noteUpload(_ summaries: [IntervalSummary]) {
        state.withLock { state in
            for summary in summaries where state.dirty.insert(summary.tenant).inserted || state.labels[summary.tenant] == nil {
                state.labels[summary.tenant] = Labels(tenantClass: summary.tenantClass, workload: summary.workload)
            }
        }
    }

    /// Priors for the asked tenants: each resource from the tenant's own history when it has enough, else from
    /// its workload class, else from all tenants.
    public func priors(for tenants: [TenantDescriptor]) -> PriorsResponse {
        state.withLock { state in
            var priors = [TenantPrior](), missing = [String]()
            for descriptor in tenants {
                let own = state.models[descriptor.tenant] ?? [:]
                let classPriors = state.classPriors[Labels(tenantClass: descriptor.tenantClass, workload: descriptor.workload).classKey] ?? [:]
                var found = false
                for resource in ResourceKind.allCases {
                    if let model = own[resource], model.prior.historySteps >= configuration.minimumOwnHistorySteps {
                        priors.append(TenantPrior(tenant: descriptor.tenant, source: .tenant, prior: model.prior))
                    } else if let prior = classPriors[resource] {
                        priors.append(TenantPrior(tenant: descriptor.tenant, source: .workloadClass, prior: prior))
                    } else if let prior = state.globalPriors[resource] {
                        priors.append(TenantPrior(tenant: descriptor.tenant, source: .global, prior: prior))
                    } else {
                        continue
                    }
                    found = true
                }
                if !found { missing.append(descriptor.tenant) }
            }
            return PriorsResponse(priors: priors, missing: missing)
        }
    }

    /// Marks every tenant seen within the learning window dirty, so a restarted service relearns what it knew.
    public func bootstrap() async throws {
        let records = try await store.tenants(seenSinceSeconds: nowSeconds() - Int64(configuration.windowSeconds))
        state.withLock { state in
            for record in records {
                state.labels[record.tenant] = Labels(tenantClass: record.tenantClass, workload: record.workload)
                state.dirty.insert(record.tenant)
            }
        }
    }

    /// One round: refit the dirty tenants that are due, then regroup class priors if due. Returns tenants refitted.
    @discardableResult
    public func learnOnce() async throws -> Int {
        let uptime = ProcessInfo.processInfo.systemUptime
        let due: [String] = state.withLock { state in
            let ready = state.dirty.filter { uptime - (state.lastFitUptime[$0] ?? -.infinity) >= configuration.refitSeconds }
                .sorted().prefix(configuration.maxTenantsPerRound)
            for tenant in ready { state.dirty.remove(tenant) }
            return Array(ready)
        }
        let step = Int64(configuration.stepSeconds)
        let start = (nowSeconds() - Int64(configuration.windowSeconds)) / step * step
        for tenant in due {
            var models = [ResourceKind: TenantModel]()
            for (resource, points) in try await store.series(tenant: tenant, fromSeconds: start, stepSeconds: configuration.stepSeconds) {
                guard let first = points.first, let last = points.last else { continue }
                var values = [Double](repeating: .nan, count: Int((last.bucketSeconds - first.bucketSeconds) / step) + 1)
                for point in points { values[Int((point.bucketSeconds - first.bucketSeconds) / step)] = point.mean }
                models[resource] = SeasonalDecomposition.fit(
                    values: values, startSeconds: first.bucketSeconds, stepSeconds: configuration.stepSeconds, resource: resource
                )
            }
            state.withLock { state in
                state.models[tenant] = models
                state.lastFitUptime[tenant] = uptime
                state.classesStale = true
            }
        }
        metrics.increment("dpm_central_learner_fits_total", by: Double(due.count))
        recomputeClassPriorsIfDue(uptime: uptime)
        return due.count
    }

    /// Service body: learn in rounds until graceful shutdown.
    public func run() async throws {
        try await bootstrap()
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await self.learnOnce() } catch {
                    self.metrics.increment("dpm_central_learner_errors_total")
                }
                try? await Task.sleep(nanoseconds: UInt64(self.configuration.roundSeconds * 1e9))
            }
        }
    }

    private func recomputeClassPriorsIfDue(uptime: Double) {
        let snapshot: (labels: [String: Labels], models: [String: [ResourceKind: TenantModel]])? = state.withLock { state in
            guard state.classesStale, uptime - state.lastClassRecomputeUptime >= configuration.classRecomputeSeconds else { return nil }
            state.classesStale = false
            state.lastClassRecomputeUptime = uptime
            return (state.labels, state.models)
        }
        guard let snapshot else { return }
        var classPriors = [String: [ResourceKind: SeasonalPrior]](), globalPriors = [ResourceKind: SeasonalPrior]()
        for resource in ResourceKind.allCases {
            let members = snapshot.models.sorted { $0.key < $1.key }.compactMap { tenant, models -> (key: String, model: TenantModel)? in
                guard let model = models[resource], let labels = snapshot.labels[tenant] else { return nil }
                return (labels.classKey, model)
            }
            guard !members.isEmpty else { continue }
            for (key, prior) in ShapeClustering.classPriors(members, resource: resource) { classPriors[key, default: [:]][resource] = prior }
            globalPriors[resource] = ShapeClustering.classPriors(members.map { ("", $0.model) }, resource: resource)[""]
        }
        state.withLock { state in
            state.classPriors = classPriors
            state.globalPriors = globalPriors
        }
        metrics.set("dpm_central_learner_tenants", Double(snapshot.models.count))
        metrics.set("dpm_central_learner_classes", Double(classPriors.count))
    }
}

/// Retention as a background service: hourly, fold raw rows older than `rawRetentionSeconds` into hourly rows,
/// delete hourly rows older than `coarseRetentionSeconds`, forget upload-log entries older than
/// `uploadLogRetentionSeconds` (replays older than that are still kept from double counting by the samples' key).
public struct RetentionService: Service {
    public var store: any CentralStore
    public var metrics: CentralMetrics
    public var rawRetentionSeconds: Int64 = 15 * 86_400
    public var coarseRetentionSeconds: Int64 = 400 * 86_400
    public var uploadLogRetentionSeconds: Int64 = 30 * 86_400
    public var periodSeconds: Double = 3600

    public init(store: any CentralStore, metrics: CentralMetrics) {
        self.store = store
        self.metrics = metrics
    }

    /// One pass, at `nowSeconds`; returns how many raw rows were folded.
    @discardableResult
    public func apply(nowSeconds: Int64) async throws -> Int {
        let folded = try await store.downsample(
            beforeSeconds: (nowSeconds - rawRetentionSeconds) / 3600 * 3600, intervalSeconds: 3600,
            deleteBeforeSeconds: nowSeconds - coarseRetentionSeconds, forgetUploadsBeforeSeconds: nowSeconds - uploadLogRetentionSeconds
        )
        metrics.increment("dpm_central_retention_folded_rows_total", by: Double(folded))
        return folded
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await apply(nowSeconds: Int64(Date().timeIntervalSince1970)) } catch {
                    metrics.increment("dpm_central_retention_errors_total")
                }
                try? await Task.sleep(nanoseconds: UInt64(periodSeconds * 1e9))
            }
        }
    }
}
