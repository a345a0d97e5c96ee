import CentralSync
import Pool

/// Folds each tenant's CPU use, read by the agent's main thread about every 100 ms, into one summary per tenant and
/// wall-clock interval for the central service.
///
/// A sample is the CPU time a tenant used between two reads of its cumulative CPU time, divided by the wall time
/// between them (cores). Intervals are aligned to the Unix epoch (start = ⌊t / interval⌋ · interval) so that every
/// host's minutes line up at central; a sample belongs to the interval its read falls in. The first read past an
/// interval's end closes it and returns its summaries: mean, p50, p95 and max of its samples (nearest rank). A
/// tenant's first read, and its first read after it was missing from one, only set its baseline, as does a read
/// whose cumulative time went backwards (its slot was reused). A wall clock stepped backwards keeps filling the
/// open interval, so no interval is ever summarised twice. Pure: time comes in as an argument.
public struct UsageIntervals: Sendable {
    /// One read of one tenant.
    public struct Reading: Sendable, Equatable {
        /// The tenant with its class and workload label, as central files it.
        public var tenant: TenantDescriptor
        /// CPU time the tenant used since it was adopted, in nanoseconds.
        public var cpuNanosecondsTotal: UInt64

        public init(tenant: TenantDescriptor, cpuNanosecondsTotal: UInt64) {
            self.tenant = tenant
            self.cpuNanosecondsTotal = cpuNanosecondsTotal
        }
    }

    private struct Tenant: Sendable {
        var labels: TenantDescriptor
        /// The previous read (cumulative CPU time, wall time); nil when the next read only sets the baseline.
        var baseline: (cpuNanoseconds: UInt64, epochNanoseconds: UInt64)?
        var samples: [Double] = []
    }

    public let intervalSeconds: Int
    /// Start of the interval being filled, seconds since the epoch; nil before the first read.
    public private(set) var openIntervalStart: Int64?
    private var tenants: [String: Tenant] = [:]

    public init(intervalSeconds: Int) {
        precondition(intervalSeconds > 0, "an interval lasts at least a second")
        self.intervalSeconds = intervalSeconds
    }

    /// Folds one read of every current tenant, taken at `epochNanoseconds`; returns the summaries of the interval
    /// this read closed (empty when it closed none).
    public mutating func add(_ readings: [Reading], atEpochNanoseconds now: UInt64) -> [IntervalSummary] {
        let interval = Int64(intervalSeconds)
        let start = Int64(now / 1_000_000_000) / interval * interval
        var closed: [IntervalSummary] = []
        if let open = openIntervalStart, start > open { closed = close(startSeconds: open) }
        if openIntervalStart.map({ start > $0 }) ?? true { openIntervalStart = start }

        var present = Set<String>()
        for reading in readings {
            let name = reading.tenant.tenant
            present.insert(name)
            var tenant = tenants[name] ?? Tenant(labels: reading.tenant)
            tenant.labels = reading.tenant
            if let (cpu, then) = tenant.baseline, reading.cpuNanosecondsTotal >= cpu, now > then {
                tenant.samples.append(Double(reading.cpuNanosecondsTotal - cpu) / Double(now - then))
            }
            tenant.baseline = (reading.cpuNanosecondsTotal, now)
            tenants[name] = tenant
        }
        for name in tenants.keys where !present.contains(name) { tenants[name]?.baseline = nil }
        return closed
    }

    private mutating func close(startSeconds: Int64) -> [IntervalSummary] {
        let result = summaries(startSeconds: startSeconds)
        tenants = tenants.filter { $0.value.baseline != nil }
        for name in tenants.keys { tenants[name]?.samples.removeAll(keepingCapacity: true) }
        return result
    }

    private func summaries(startSeconds: Int64) -> [IntervalSummary] {
        tenants.sorted { $0.key < $1.key }.compactMap { name, tenant in
            IntervalSummary.summarize(
                tenant.samples, tenant: name, tenantClass: tenant.labels.tenantClass, workload: tenant.labels.workload, resource: .cpu,
                startSeconds: startSeconds, intervalSeconds: intervalSeconds
            )
        }
    }
}
