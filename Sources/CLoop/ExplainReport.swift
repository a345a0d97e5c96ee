import Foundation
import Pool

/// What `dpm explain TENANT` shows: the tenant's forecast, what bound its allocation, the solver's cost terms, and
/// its last changes with the reason the loop solved each time.
public struct ExplainReport: Sendable, Codable, Equatable {
    public var tenant: StatusReport.Tenant
    public var guaranteed: [String: Double?]
    public var cap: [String: Double?]
    public var binding_constraints: [String]
    public var cost_terms: [String: Double]
    public var changes: [Change]
    /// The most recent solve or enforce failure, if any.
    public var last_failure: String?

    public struct Change: Sendable, Codable, Equatable {
        public var seconds_ago: Double
        /// When the tick that made the change ran, in nanoseconds since the Unix epoch.
        public var at_unix_ns: UInt64
        public var reason: String
        public var before_cpu_cores: Double
        public var after_cpu_cores: Double
        public var before_cores: [Int]
        public var after_cores: [Int]
        public var before_memory_max_bytes: Double?
        public var after_memory_max_bytes: Double?
    }

    static func make(tenant: StatusReport.Tenant, spec: TenantSpec, history: [SolveRecord]) -> ExplainReport {
        let clock = WallClock()
        let latest = history.first { $0.outcome?.explanations[spec.name] != nil }
        let explanation = latest?.outcome?.explanations[spec.name] ?? TenantRationale()
        let changes = history.flatMap { record in
            record.changes.filter { $0.tenant == spec.name }.map { change in
                Change(
                    seconds_ago: Double(clock.monotonicNow &- record.atNanoseconds) / 1e9,
                    at_unix_ns: clock.unixNanoseconds(monotonic: record.atNanoseconds), reason: record.reason,
                    before_cpu_cores: change.beforeCpuCores, after_cpu_cores: change.afterCpuCores,
                    before_cores: change.beforeCoreIDs, after_cores: change.afterCoreIDs,
                    before_memory_max_bytes: change.beforeMemoryMaxBytes.isFinite ? change.beforeMemoryMaxBytes : nil,
                    after_memory_max_bytes: change.afterMemoryMaxBytes.isFinite ? change.afterMemoryMaxBytes : nil
                )
            }
        }
        func amounts(_ vector: ResourceVector) -> [String: Double?] {
            Dictionary(uniqueKeysWithValues: ResourceKind.allCases.map { kind in ("\(kind)_\(kind.unit.replacingOccurrences(of: "/", with: "_per_"))", vector[kind].isFinite ? vector[kind] : nil) })
        }
        return ExplainReport(
            tenant: tenant, guaranteed: amounts(spec.guaranteed), cap: amounts(spec.cap),
            binding_constraints: explanation.bindingConstraints, cost_terms: explanation.costTerms,
            changes: changes, last_failure: history.first { $0.failure != nil }?.failure
        )
    }

    /// The report as text for a person.
    public func text() -> String {
        var lines: [String] = []
        lines.append("\(tenant.name) (\(tenant.class), cgroup \(tenant.cgroup))")
        lines.append("  allocation: cores \(tenant.cores.isEmpty ? "none exclusive" : tenant.cores.map(String.init).joined(separator: ",")), shared quota \(String(format: "%.3f", tenant.cpu_quota_cores)) cores, weight \(tenant.cpu_weight), memory max \(tenant.memory_max_bytes.map { String(format: "%.0f bytes", $0) } ?? "unlimited")")
        lines.append("  usage: \(String(format: "%.3f", tenant.usage_cpu_cores)) cores; forecast \(String(format: "%.3f", tenant.forecast.cpu_expected)) expected, \(String(format: "%.3f", tenant.forecast.cpu_at_quantile)) at quantile, confidence \(String(format: "%.2f", tenant.forecast.confidence))")
        if let objective = tenant.slo_runq_wait_p99_ns {
            lines.append("  objective: run-queue wait p99 ≤ \(Units.formatNanoseconds(objective)); measured \(tenant.runq_wait_p99_ns.map { Units.formatNanoseconds($0) } ?? "not measured")\(tenant.slo_violated ? " — MISSED" : ""), \(tenant.slo_violation_ticks) ticks over")
        }
        lines.append("  guaranteed: \(describe(guaranteed)); cap: \(describe(cap))")
        lines.append("  binding constraints: \(binding_constraints.isEmpty ? "none reported" : binding_constraints.joined(separator: "; "))")
        lines.append("  cost terms: \(cost_terms.isEmpty ? "none reported" : cost_terms.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.4g", $0.value))" }.joined(separator: ", "))")
        lines.append("  last changes:\(changes.isEmpty ? " none" : "")")
        for change in changes.prefix(10) {
            lines.append("    \(String(format: "%.3f", change.seconds_ago))s ago: cpu \(String(format: "%.3f", change.before_cpu_cores)) → \(String(format: "%.3f", change.after_cpu_cores)) cores, exclusive \(change.before_cores) → \(change.after_cores); because \(change.reason)")
        }
        if let last_failure { lines.append("  last failure: \(last_failure)") }
        return lines.joined(separator: "\n")
    }

    private func describe(_ amounts: [String: Double?]) -> String {
        amounts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.map { String(format: "%.4g", $0) } ?? "unlimited")" }.joined(separator: " ")
    }
}
