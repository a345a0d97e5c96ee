import CLoopSystem
import Foundation
import Pool

/// What `dpm status` shows: the pool, the loop, and every tenant with its allocation, forecast and SLO state.
///
/// Amounts that may be unlimited or unmeasured are optional: JSON has no infinity, so they are `null` there.
public struct StatusReport: Sendable, Codable, Equatable {
    public var mode: String
    public var telemetry: String
    public var pool: Pool
    public var loop: Loop
    public var tenants: [Tenant]

    public struct Pool: Sendable, Codable, Equatable {
        public var cores: [Int]
        public var housekeeping_cores: [Int]
        public var memory_bytes: Double
        public var reserved_memory_bytes: Double
        public var allocated_cpu_cores: Double
        public var exclusive_cores: [Int]
    }

    public struct Loop: Sendable, Codable, Equatable {
        public var tick_ns: UInt64
        public var ticks: UInt64
        public var missed_ticks: UInt64
        public var table_generation: UInt64
        public var solves: UInt64
        /// Solves by trigger (every_tick, table_changed, forecast_moved, objective_missed, shrink_hold_ended, quota_saturated).
        public var solves_by_cause: [String: UInt64]
        /// Solves after which the applied allocation changed.
        public var solves_changed: UInt64
        public var solve_failures: UInt64
        public var solver_iterations: UInt64
        public var enforce_writes: UInt64
        public var enforce_failures: UInt64
        public var dropped_records: UInt64
        public var lateness_p50_ns: UInt64
        public var lateness_p99_ns: UInt64
        public var work_p50_ns: UInt64
        public var work_p99_ns: UInt64
        /// Mean tick work: times the tick rate, the tick thread's share of a core spent working.
        public var work_mean_ns: UInt64
        /// Each stage of the tick (drain, fold_predict, solve, enforce, publish) since start.
        public var stages: [String: Stage]
    }

    /// One stage's durations: how often it ran, and its p50, p99 and mean.
    public struct Stage: Sendable, Codable, Equatable {
        public var count: UInt64
        public var p50_ns: UInt64
        public var p99_ns: UInt64
        public var mean_ns: UInt64

        init(_ snapshot: LatencyHistogram.Snapshot) {
            count = snapshot.count
            p50_ns = snapshot.quantile(0.5)
            p99_ns = snapshot.quantile(0.99)
            mean_ns = snapshot.count == 0 ? 0 : snapshot.sumNanoseconds / snapshot.count
        }
    }

    public struct Forecast: Sendable, Codable, Equatable {
        /// CPU cores: expected, at the class's quantile, and the forecaster's confidence (0–1).
        public var cpu_expected: Double
        public var cpu_at_quantile: Double
        public var confidence: Double
    }

    public struct Tenant: Sendable, Codable, Equatable {
        public var name: String
        public var `class`: String
        public var cgroup: String
        public var cores: [Int]
        public var cpu_quota_cores: Double
        public var cpu_weight: Int
        public var memory_max_bytes: Double?
        public var usage_cpu_cores: Double
        /// CPU used, averaged over about the last 100 ticks.
        public var usage_cpu_cores_avg: Double
        public var usage_memory_bytes: Double?
        public var forecast: Forecast
        public var runq_wait_p50_ns: Double?
        public var runq_wait_p99_ns: Double?
        public var slo_runq_wait_p99_ns: Double?
        /// Whether the tenant's run-queue wait p99 is above its objective now.
        public var slo_violated: Bool
        public var slo_violation_ticks: UInt64
        /// Solves the tenant triggered (its forecast moved or it missed its objective).
        public var solves_triggered: UInt64
        /// When the tenant's allocation last changed, in nanoseconds since the Unix epoch (nil: never).
        public var last_change_unix_ns: UInt64?
        public var vanished: Bool
    }

    /// Builds the report from a table and the snapshot the tick published for it.
    static func make(
        mode: String, telemetry: String, config: AgentConfig, table: TenantTable?, loop: LoopView, views: [TenantView],
        histograms: LoopHistograms
    ) -> StatusReport {
        let specs = table?.specs ?? []
        let clock = WallClock()
        let tenants = zip(specs, views).map { spec, view in
            let measured = view.runQueueWaitP99Nanoseconds.isNaN ? nil : view.runQueueWaitP99Nanoseconds
            return Tenant(
                name: spec.name, class: spec.tenantClass.rawValue, cgroup: spec.cgroupPath, cores: view.exclusiveCoreIDs,
                cpu_quota_cores: view.sharedCpuCores, cpu_weight: Int(view.cpuWeight),
                memory_max_bytes: view.memoryMaxBytes.isFinite ? view.memoryMaxBytes : nil,
                usage_cpu_cores: view.usageCpuCores, usage_cpu_cores_avg: view.usageCpuCoresAverage,
                usage_memory_bytes: view.usageMemoryBytes.isNaN ? nil : view.usageMemoryBytes,
                forecast: Forecast(cpu_expected: view.forecastCpuExpected, cpu_at_quantile: view.forecastCpuAtQuantile, confidence: view.forecastCpuConfidence),
                runq_wait_p50_ns: view.runQueueWaitP50Nanoseconds.isNaN ? nil : view.runQueueWaitP50Nanoseconds,
                runq_wait_p99_ns: measured,
                slo_runq_wait_p99_ns: spec.slo.runQueueWaitP99Nanoseconds,
                slo_violated: measured.map { value in spec.slo.runQueueWaitP99Nanoseconds.map { value > $0 } ?? false } ?? false,
                slo_violation_ticks: view.sloViolationTicks, solves_triggered: view.solvesTriggered,
                last_change_unix_ns: view.lastChangeNanoseconds == 0 ? nil : clock.unixNanoseconds(monotonic: view.lastChangeNanoseconds),
                vanished: view.vanished
            )
        }
        let host = table?.host
        let lateness = histograms.lateness.snapshot()
        let work = histograms.work.snapshot()
        return StatusReport(
            mode: mode, telemetry: telemetry,
            pool: Pool(
                cores: host?.cores.map(\.id) ?? [], housekeeping_cores: host?.housekeepingCoreIDs ?? [],
                memory_bytes: host?.memoryBytes ?? 0, reserved_memory_bytes: host?.reservedMemoryBytes ?? 0,
                allocated_cpu_cores: tenants.reduce(0) { $0 + Double($1.cores.count) + $1.cpu_quota_cores },
                exclusive_cores: tenants.flatMap(\.cores).sorted()
            ),
            loop: Loop(
                tick_ns: config.tickNanoseconds, ticks: loop.ticks, missed_ticks: loop.missedTicks, table_generation: loop.tableGeneration,
                solves: loop.solves, solves_by_cause: Dictionary(uniqueKeysWithValues: loop.solvesByCause.byLabel.map { ($0.cause, $0.count) }),
                solves_changed: loop.solvesChangingAllocation, solve_failures: loop.solveFailures, solver_iterations: loop.solverIterationsTotal,
                enforce_writes: loop.enforceWrites, enforce_failures: loop.enforceFailures, dropped_records: loop.droppedRecords,
                lateness_p50_ns: lateness.quantile(0.5), lateness_p99_ns: lateness.quantile(0.99),
                work_p50_ns: work.quantile(0.5), work_p99_ns: work.quantile(0.99), work_mean_ns: Stage(work).mean_ns,
                stages: Dictionary(uniqueKeysWithValues: histograms.stages.map { ($0.name, Stage($0.histogram.snapshot())) })
            ),
            tenants: tenants
        )
    }

    /// The report as an aligned text table.
    public func table() -> String {
        var lines = ["dpm \(mode), telemetry \(telemetry): \(tenants.count) tenants, tick \(Units.formatNanoseconds(Double(loop.tick_ns))), \(loop.ticks) ticks (\(loop.missed_ticks) missed), \(loop.solves) solves",
                     "tick lateness p50/p99 \(Units.formatNanoseconds(Double(loop.lateness_p50_ns)))/\(Units.formatNanoseconds(Double(loop.lateness_p99_ns))), work p50/p99 \(Units.formatNanoseconds(Double(loop.work_p50_ns)))/\(Units.formatNanoseconds(Double(loop.work_p99_ns)))",
                     ""]
        let header = ["TENANT", "CLASS", "CORES", "QUOTA", "MEM MAX", "USAGE", "FORECAST", "RUNQ P99", "SLO"]
        var rows = [header]
        for tenant in tenants {
            let slo: String
            if let objective = tenant.slo_runq_wait_p99_ns {
                slo = (tenant.slo_violated ? "MISS " : "ok ") + Units.formatNanoseconds(objective)
            } else {
                slo = "-"
            }
            rows.append([
                tenant.name + (tenant.vanished ? " (gone)" : ""), tenant.class,
                tenant.cores.isEmpty ? "-" : tenant.cores.map(String.init).joined(separator: ","),
                String(format: "%.2f", tenant.cpu_quota_cores),
                tenant.memory_max_bytes.map { String(format: "%.0fMi", $0 / 1_048_576) } ?? "max",
                String(format: "%.2f", tenant.usage_cpu_cores_avg),
                String(format: "%.2f", tenant.forecast.cpu_at_quantile),
                tenant.runq_wait_p99_ns.map { Units.formatNanoseconds($0) } ?? "-",
                slo,
            ])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            lines.append(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
        return lines.joined(separator: "\n")
    }
}

/// Views and solve records keep CLOCK_MONOTONIC times; reports give wall-clock times a script can compare with
/// `date +%s%N`. One reading of both clocks converts every time of one report.
struct WallClock {
    let monotonicNow: UInt64
    let unixNow: UInt64

    init() {
        monotonicNow = dpm_monotonic_ns()
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        unixNow = UInt64(wall.tv_sec) * 1_000_000_000 + UInt64(wall.tv_nsec)
    }

    /// The Unix time (ns) of a CLOCK_MONOTONIC time in the past.
    func unixNanoseconds(monotonic: UInt64) -> UInt64 { unixNow &- (monotonicNow &- monotonic) }
}
