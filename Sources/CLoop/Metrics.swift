import Foundation
import Pool

/// The Prometheus text exposition of the agent: per tenant allocation, usage, forecast, run-queue wait quantiles and
/// SLO violations; per loop tick lateness and stage durations as histograms, drops and solver iterations.
enum Metrics {
    /// Histogram bucket bounds, in nanoseconds (10 µs … 10 ms).
    static let boundsNanoseconds: [UInt64] = [10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000]

    static func render(report: StatusReport, histograms: LoopHistograms) -> String {
        var out = ""
        func gauge(_ name: String, _ help: String, _ samples: [(labels: String, value: Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for sample in samples { out += "\(name){\(sample.labels)} \(format(sample.value))\n" }
        }
        func counter(_ name: String, _ help: String, _ value: UInt64) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n\(name) \(value)\n"
        }
        let tenants = report.tenants
        func labels(_ tenant: StatusReport.Tenant) -> String { "tenant=\"\(escape(tenant.name))\",class=\"\(tenant.class)\"" }
        gauge("dpm_tenant_exclusive_cores", "Exclusive CPUs allocated to the tenant.", tenants.map { (labels($0), Double($0.cores.count)) })
        gauge("dpm_tenant_cpu_quota_cores", "Shared-pool CPU quota allocated, in cores.", tenants.map { (labels($0), $0.cpu_quota_cores) })
        gauge("dpm_tenant_memory_max_bytes", "Memory limit allocated (+Inf when unlimited).", tenants.map { (labels($0), $0.memory_max_bytes ?? .infinity) })
        gauge("dpm_tenant_cpu_usage_cores", "CPU used over the last tick, in cores.", tenants.map { (labels($0), $0.usage_cpu_cores) })
        gauge("dpm_tenant_memory_usage_bytes", "Memory in use (NaN when not measured).", tenants.map { (labels($0), $0.usage_memory_bytes ?? .nan) })
        gauge("dpm_tenant_cpu_forecast_cores", "CPU demand forecast: expected and at the class quantile.",
              tenants.flatMap { [("\(labels($0)),kind=\"expected\"", $0.forecast.cpu_expected), ("\(labels($0)),kind=\"quantile\"", $0.forecast.cpu_at_quantile)] })
        gauge("dpm_tenant_runq_wait_seconds", "Run-queue wait quantiles over the recent window (NaN when not measured).",
              tenants.flatMap { [("\(labels($0)),quantile=\"0.5\"", ($0.runq_wait_p50_ns ?? .nan) / 1e9), ("\(labels($0)),quantile=\"0.99\"", ($0.runq_wait_p99_ns ?? .nan) / 1e9)] })
        out += "# HELP dpm_tenant_slo_violation_ticks_total Ticks on which the run-queue wait p99 was above the objective.\n# TYPE dpm_tenant_slo_violation_ticks_total counter\n"
        for tenant in tenants { out += "dpm_tenant_slo_violation_ticks_total{\(labels(tenant))} \(tenant.slo_violation_ticks)\n" }

        counter("dpm_ticks_total", "Ticks run.", report.loop.ticks)
        counter("dpm_ticks_missed_total", "Ticks skipped because the loop was late by more than a period.", report.loop.missed_ticks)
        counter("dpm_telemetry_dropped_records_total", "Kernel records the telemetry had to drop.", report.loop.dropped_records)
        out += "# HELP dpm_solves_total Solves run, by what triggered them.\n# TYPE dpm_solves_total counter\n"
        for (cause, count) in report.loop.solves_by_cause.sorted(by: { $0.key < $1.key }) { out += "dpm_solves_total{cause=\"\(cause)\"} \(count)\n" }
        counter("dpm_solves_changed_total", "Solves after which the applied allocation changed.", report.loop.solves_changed)
        counter("dpm_solve_failures_total", "Solves that failed (the previous allocation stayed).", report.loop.solve_failures)
        counter("dpm_solver_iterations_total", "Solver iterations over all solves.", report.loop.solver_iterations)
        counter("dpm_enforce_writes_total", "Control-file writes made.", report.loop.enforce_writes)
        counter("dpm_enforce_failures_total", "Applies that failed (rolled back).", report.loop.enforce_failures)
        histogram(&out, name: "dpm_tick_lateness_seconds", help: "Wake-up lateness against the absolute tick deadline.", labels: "", histograms.lateness.snapshot(), typeLine: true)
        histogram(&out, name: "dpm_tick_work_seconds", help: "Tick work from wake-up to publish.", labels: "", histograms.work.snapshot(), typeLine: true)
        var first = true
        for (stage, histogram) in histograms.stages {
            self.histogram(&out, name: "dpm_tick_stage_seconds", help: "Duration of each tick stage.", labels: "stage=\"\(stage)\"", histogram.snapshot(), typeLine: first)
            first = false
        }
        return out
    }

    private static func histogram(_ out: inout String, name: String, help: String, labels: String, _ snapshot: LatencyHistogram.Snapshot, typeLine: Bool) {
        if typeLine { out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n" }
        let separator = labels.isEmpty ? "" : ","
        for (bound, count) in zip(boundsNanoseconds, snapshot.cumulative(atOrBelow: boundsNanoseconds)) {
            out += "\(name)_bucket{\(labels)\(separator)le=\"\(format(Double(bound) / 1e9))\"} \(count)\n"
        }
        out += "\(name)_bucket{\(labels)\(separator)le=\"+Inf\"} \(snapshot.count)\n"
        out += "\(name)_sum{\(labels)} \(format(Double(snapshot.sumNanoseconds) / 1e9))\n"
        out += "\(name)_count{\(labels)} \(snapshot.count)\n"
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return "\(value)"
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
