import Pool

/// One tenant's use of one resource over one interval, as an edge host uploads it to the central service.
///
/// The edge folds its per-tick samples into these (see `IntervalSummary.summarize`); the central service learns
/// seasonal priors from the means. Amounts are in the resource's unit (`ResourceKind.unit`).
public struct IntervalSummary: Sendable, Hashable, Codable {
    public var tenant: String
    public var tenantClass: TenantClass
    /// Free-form workload label ("web", "batch", "azure-vm"); tenants with the same label share a class prior.
    public var workload: String
    @ResourceByName public var resource: ResourceKind
    /// Seconds since the Unix epoch at which the interval starts.
    public var startSeconds: Int64
    public var intervalSeconds: Int
    public var mean: Double
    public var p50: Double
    public var p95: Double
    public var max: Double

    public init(
        tenant: String, tenantClass: TenantClass, workload: String, resource: ResourceKind,
        startSeconds: Int64, intervalSeconds: Int, mean: Double, p50: Double, p95: Double, max: Double
    ) {
        self.tenant = tenant
        self.tenantClass = tenantClass
        self.workload = workload
        self.resource = resource
        self.startSeconds = startSeconds
        self.intervalSeconds = intervalSeconds
        self.mean = mean
        self.p50 = p50
        self.p95 = p95
        self.max = max
    }

    /// Folds one interval's raw samples into a summary (nearest-rank percentiles); nil when there are none.
    public static func summarize(
        _ samples: [Double], tenant: String, tenantClass: TenantClass, workload: String, resource: ResourceKind,
        startSeconds: Int64, intervalSeconds: Int
    ) -> IntervalSummary? {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        func rank(_ quantile: Double) -> Double {
            sorted[Swift.min(sorted.count - 1, Int((quantile * Double(sorted.count)).rounded(.up)) - 1)]
        }
        return IntervalSummary(
            tenant: tenant, tenantClass: tenantClass, workload: workload, resource: resource,
            startSeconds: startSeconds, intervalSeconds: intervalSeconds,
            mean: sorted.reduce(0, +) / Double(sorted.count), p50: rank(0.5), p95: rank(0.95), max: sorted[sorted.count - 1]
        )
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case tenant, tenantClass, workload, resource, startSeconds, intervalSeconds, mean, p50, p95, max
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.stringValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tenant = try c.decode(String.self, forKey: .tenant)
        tenantClass = try c.decode(TenantClass.self, forKey: .tenantClass)
        workload = try c.decode(String.self, forKey: .workload)
        _resource = try c.decode(ResourceByName.self, forKey: .resource)
        startSeconds = try c.decode(Int64.self, forKey: .startSeconds)
        intervalSeconds = try c.decode(Int.self, forKey: .intervalSeconds)
        mean = try c.decode(Double.self, forKey: .mean)
        p50 = try c.decode(Double.self, forKey: .p50)
        p95 = try c.decode(Double.self, forKey: .p95)
        max = try c.decode(Double.self, forKey: .max)
    }
}

/// The body of `PUT /v1/hosts/{host}/uploads/{sequence}`.
public struct UploadBody: Sendable, Hashable, Codable {
    public var summaries: [IntervalSummary]

    public init(summaries: [IntervalSummary]) { self.summaries = summaries }

    private enum CodingKeys: String, CodingKey, CaseIterable { case summaries }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.stringValue))
        summaries = try decoder.container(keyedBy: CodingKeys.self).decode([IntervalSummary].self, forKey: .summaries)
    }
}

/// The answer to an upload: whether this host and sequence were new or had been stored before.
public struct UploadReceipt: Sendable, Hashable, Codable {
    public var host: String
    public var sequence: Int64
    /// True when the same host and sequence had already been accepted; nothing was stored again.
    public var duplicate: Bool
    public var storedSummaries: Int

    public init(host: String, sequence: Int64, duplicate: Bool, storedSummaries: Int) {
        self.host = host
        self.sequence = sequence
        self.duplicate = duplicate
        self.storedSummaries = storedSummaries
    }
}

/// A tenant an edge asks priors for; class and workload let the service answer for a tenant it has never seen.
public struct TenantDescriptor: Sendable, Hashable, Codable {
    public var tenant: String
    public var tenantClass: TenantClass
    public var workload: String

    public init(tenant: String, tenantClass: TenantClass, workload: String) {
        self.tenant = tenant
        self.tenantClass = tenantClass
        self.workload = workload
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case tenant, tenantClass, workload }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.stringValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tenant = try c.decode(String.self, forKey: .tenant)
        tenantClass = try c.decode(TenantClass.self, forKey: .tenantClass)
        workload = try c.decode(String.self, forKey: .workload)
    }
}

/// The body of `POST /v1/hosts/{host}/priors`.
public struct PriorsRequest: Sendable, Hashable, Codable {
    public var tenants: [TenantDescriptor]

    public init(tenants: [TenantDescriptor]) { self.tenants = tenants }

    private enum CodingKeys: String, CodingKey, CaseIterable { case tenants }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.stringValue))
        tenants = try decoder.container(keyedBy: CodingKeys.self).decode([TenantDescriptor].self, forKey: .tenants)
    }
}

/// Where a served prior comes from.
public enum PriorSource: String, Sendable, Hashable, Codable {
    /// Learnt from this tenant's own history.
    case tenant
    /// The prior of the tenant's workload class (cold start).
    case workloadClass = "class"
    /// The prior of all tenants, for a workload label nobody has uploaded yet.
    case global
}

/// One prior for one tenant and resource, as served to an edge.
public struct TenantPrior: Sendable, Hashable, Codable {
    public var tenant: String
    @ResourceByName public var resource: ResourceKind
    public var source: PriorSource
    public var stepSeconds: Double
    public var level: Double
    public var trend: Double
    public var seasonalProfile: [Double]
    public var profileEpochSeconds: Double
    public var residualStandardDeviation: Double
    public var historySteps: Int
    /// The class's local-model one-step errors (`SeasonalPrior.localModelErrors`); absent from older services and
    /// from a tenant's own prior. A value that is not finite and non-negative is dropped on the way to Predict.
    public var localModelErrors: LocalModelErrors?
    /// The fast model's level rate for this tenant (`SeasonalPrior.fastLevelRate`); absent from older services and
    /// from class and global priors. A value outside (0, 1] is dropped on the way to Predict.
    public var fastLevelRate: Double?

    public init(tenant: String, source: PriorSource, prior: SeasonalPrior) {
        self.tenant = tenant
        self.resource = prior.resource
        self.source = source
        self.stepSeconds = prior.stepSeconds
        self.level = prior.level
        self.trend = prior.trend
        self.seasonalProfile = prior.seasonalProfile
        self.profileEpochSeconds = prior.profileEpochSeconds
        self.residualStandardDeviation = prior.residualStandardDeviation
        self.historySteps = prior.historySteps
        self.localModelErrors = prior.localModelErrors
        self.fastLevelRate = prior.fastLevelRate
    }

    /// The `Pool` value Predict consumes.
    public var seasonalPrior: SeasonalPrior {
        var prior = SeasonalPrior(
            resource: resource, stepSeconds: stepSeconds, level: level, trend: trend, seasonalProfile: seasonalProfile,
            profileEpochSeconds: profileEpochSeconds, residualStandardDeviation: residualStandardDeviation,
            historySteps: historySteps, localModelErrors: localModelErrors.flatMap { $0.isUsable ? $0 : nil },
            fastLevelRate: fastLevelRate
        )
        prior.fastLevelRate = prior.usableFastLevelRate
        return prior
    }
}

/// The answer of `POST /v1/hosts/{host}/priors`.
public struct PriorsResponse: Sendable, Hashable, Codable {
    public var priors: [TenantPrior]
    /// Tenants for which no prior exists yet (nothing uploaded by anyone for their workload or at all).
    public var missing: [String]

    public init(priors: [TenantPrior], missing: [String]) {
        self.priors = priors
        self.missing = missing
    }
}

/// A resource kind spelled by name on the wire ("cpu", "memory", "network") rather than by its raw number.
@propertyWrapper
public struct ResourceByName: Sendable, Hashable, Codable {
    public var wrappedValue: ResourceKind

    public init(wrappedValue: ResourceKind) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let kind = ResourceKind.allCases.first(where: { $0.description == name }) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "unknown resource \"\(name)\" (expected cpu, memory or network)"
            ))
        }
        wrappedValue = kind
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(wrappedValue.description)
    }
}

/// Any JSON object key, to list the keys a payload actually carries.
private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Fails decoding when the object holds a key the API does not define, so a misspelt field is an error, not a
/// silently ignored value.
private func rejectUnknownKeys(_ decoder: any Decoder, known: [String]) throws {
    let container = try decoder.container(keyedBy: AnyKey.self)
    for key in container.allKeys where !known.contains(key.stringValue) {
        throw DecodingError.dataCorrupted(.init(
            codingPath: decoder.codingPath + [key], debugDescription: "unknown field \"\(key.stringValue)\""
        ))
    }
}
