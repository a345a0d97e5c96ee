import CLoopSystem
import Pool

/// The body of one tick: drain telemetry → fold per-tenant samples → Predict → Solve when needed → Enforce the
/// diff → publish a snapshot.
///
/// - Important: `tick(nowNanoseconds:)` runs on the tick thread only. In steady state (no table change and no
///   solve) it does not allocate: every per-tenant buffer is preallocated for `capacity` slots. A solve builds an
///   `Allocation` and a `SolveRecord`, which do allocate; solves happen only when a forecast moved past the
///   threshold, an objective was missed or the table changed.
public final class ControlLoop: @unchecked Sendable {
    public let capacity: Int
    public let snapshot: SnapshotBuffer
    public let history = SolveHistory()
    public let tables = TenantTableExchange()
    public let histograms = LoopHistograms()

    private let config: AgentConfig
    private let telemetry: any TelemetrySource
    private let forecaster: any DemandForecaster
    private let enforcer: any AllocationEnforcing

    private let frame: TelemetryFrame
    /// Decayed run-queue wait buckets per slot (slot-major), the window the wait quantiles are read from.
    private let waitWindow: UnsafeMutableBufferPointer<Double>
    /// CPU forecast (at quantile) that each slot had at the last solve.
    private let lastSolvedCpu: UnsafeMutableBufferPointer<Double>
    private let views: UnsafeMutableBufferPointer<TenantView>
    private var loopView = LoopView()

    private var table: TenantTable?
    private var applied = Allocation()
    /// When each served tenant's allocation last changed (tick thread only; pruned to the table's tenants on adopt).
    private(set) var lastChange: [String: UInt64] = [:]
    private var previousTickNanoseconds: UInt64 = 0
    /// When the loop last solved; a missed objective triggers a solve at most once per hysteresis hold.
    private var lastSolveNanoseconds: UInt64 = 0

    /// Per tick, the weight the wait window keeps of its past (a window of about 200 ticks).
    private let waitDecay = 0.995

    public init(
        config: AgentConfig, capacity: Int, telemetry: any TelemetrySource, forecaster: any DemandForecaster,
        enforcer: any AllocationEnforcing
    ) {
        self.config = config
        self.capacity = capacity
        self.telemetry = telemetry
        self.forecaster = forecaster
        self.enforcer = enforcer
        snapshot = SnapshotBuffer(capacity: capacity)
        frame = TelemetryFrame(capacity: capacity)
        waitWindow = .allocate(capacity: capacity * TelemetryFrame.waitBucketCount)
        waitWindow.initialize(repeating: 0)
        lastSolvedCpu = .allocate(capacity: capacity)
        lastSolvedCpu.initialize(repeating: 0)
        views = .allocate(capacity: capacity)
        views.initialize(repeating: TenantView())
    }

    deinit {
        waitWindow.deallocate()
        lastSolvedCpu.deallocate()
        views.deallocate()
    }

    /// The allocation last applied (tick thread; read it elsewhere only after the tick thread stopped).
    public var appliedAllocation: Allocation { applied }

    /// Runs one tick at `nowNanoseconds` (CLOCK_MONOTONIC).
    public func tick(nowNanoseconds: UInt64) {
        let start = dpm_monotonic_ns()
        var reason: SolveReason? = config.solvePolicy == .everyTick ? .everyTick : nil
        if let next = tables.take() {
            adopt(next)
            reason = .tableChanged
        }
        let elapsed = previousTickNanoseconds == 0 ? config.tickNanoseconds : max(nowNanoseconds - previousTickNanoseconds, 1)
        previousTickNanoseconds = nowNanoseconds

        telemetry.drain(into: frame, nowNanoseconds: nowNanoseconds)
        let drained = dpm_monotonic_ns()
        histograms.drain.record(drained - start)

        if let table {
            for index in 0..<table.specs.count {
                let slot = table.slots[index]
                let demand = fold(slot: slot, spec: table.specs[index], elapsedNanoseconds: elapsed, nowNanoseconds: nowNanoseconds)
                table.demands[index] = demand
                if reason == nil {
                    if views[slot].vanished {
                        continue
                    } else if let objective = table.specs[index].slo.runQueueWaitP99Nanoseconds,
                              let measured = demand.measuredRunQueueWaitP99Nanoseconds, measured > objective,
                              nowNanoseconds >= lastSolveNanoseconds + config.hysteresis.shrinkHoldNanoseconds {
                        reason = .objectiveMissed(index)
                    } else if case let .onChange(threshold) = config.solvePolicy,
                              nowNanoseconds >= lastSolveNanoseconds + config.solveMinimumIntervalNanoseconds,
                              Damping.forecastMoved(lastSolved: lastSolvedCpu[slot], now: demand.cpuCores.atQuantile, relativeThreshold: threshold) {
                        reason = .forecastMoved(index)
                    }
                }
            }
        }
        let predicted = dpm_monotonic_ns()
        histograms.foldAndPredict.record(predicted - drained)

        if let reason, let table { solveAndEnforce(table: table, reason: reason, nowNanoseconds: nowNanoseconds) }
        let enforced = dpm_monotonic_ns()

        loopView.ticks &+= 1
        loopView.droppedRecords &+= frame.droppedRecords
        loopView.lastTickNanoseconds = nowNanoseconds
        publish()
        let end = dpm_monotonic_ns()
        histograms.publish.record(end - enforced)
        histograms.work.record(end - start)
    }

    /// Counts a tick the schedule had to skip.
    func countMissed(_ ticks: UInt64) { loopView.missedTicks &+= ticks }

    // MARK: Stages

    private enum SolveReason {
        case everyTick, tableChanged
        case forecastMoved(Int)
        case objectiveMissed(Int)
    }

    private func adopt(_ next: TenantTable) {
        let kept = Set(next.slots)
        if let old = table {
            for slot in old.slots where !kept.contains(slot) { views[slot] = TenantView() }
        }
        let known = Set(table?.slots ?? [])
        for slot in next.slots where !known.contains(slot) {
            views[slot] = TenantView()
            views[slot].slot = Int32(slot)
            lastSolvedCpu[slot] = 0
            for bucket in 0..<TelemetryFrame.waitBucketCount { waitWindow[slot * TelemetryFrame.waitBucketCount + bucket] = 0 }
        }
        for index in next.slots.indices { forecaster.adopt(cpuPrior: next.cpuPriors[index], slot: next.slots[index]) }
        // A retired tenant's change time goes with it: kept, the map grows by one entry per tenant ever served and a
        // newcomer of the same name inherits the old tenant's shrink hold.
        if !lastChange.isEmpty {
            let names = Set(next.specs.map(\.name))
            lastChange = lastChange.filter { names.contains($0.key) }
        }
        table = next
        loopView.tableGeneration = next.generation
        loopView.tenantCount = Int32(next.specs.count)
    }

    /// Folds one slot's telemetry into its view and asks the forecaster for its demand.
    @inline(__always)
    private func fold(slot: Int, spec: TenantSpec, elapsedNanoseconds: UInt64, nowNanoseconds: UInt64) -> TenantDemand {
        let cpu = frame.cpuNanoseconds[slot]
        views[slot].cpuNanosecondsTotal &+= cpu
        views[slot].usageCpuCores = Double(cpu) / Double(elapsedNanoseconds)
        views[slot].usageCpuCoresAverage += (views[slot].usageCpuCores - views[slot].usageCpuCoresAverage) * 0.01
        if frame.vanished[slot] { views[slot].vanished = true }
        views[slot].usageMemoryBytes = frame.memoryBytes[slot]
        var waitP99: Double?
        if frame.measuresRunQueueWait {
            let base = slot * TelemetryFrame.waitBucketCount
            var total = 0.0
            for bucket in 0..<TelemetryFrame.waitBucketCount {
                let value = waitWindow[base + bucket] * waitDecay + Double(frame.waitBuckets[base + bucket])
                waitWindow[base + bucket] = value
                total += value
            }
            if total >= 1 {
                views[slot].runQueueWaitP50Nanoseconds = waitQuantile(base: base, total: total, quantile: 0.5)
                views[slot].runQueueWaitP90Nanoseconds = waitQuantile(base: base, total: total, quantile: 0.9)
                let p99 = waitQuantile(base: base, total: total, quantile: 0.99)
                views[slot].runQueueWaitP99Nanoseconds = p99
                waitP99 = p99
                if let objective = spec.slo.runQueueWaitP99Nanoseconds, p99 > objective {
                    views[slot].sloViolationTicks &+= 1
                }
            }
        }
        frame.clear(slot: slot)
        let demand = forecaster.observe(
            slot: slot, usage: ResourceVector(cpuCores: views[slot].usageCpuCores, memoryBytes: views[slot].usageMemoryBytes),
            runQueueWaitP99Nanoseconds: waitP99, nowNanoseconds: nowNanoseconds
        )
        views[slot].forecastCpuExpected = demand.cpuCores.expected
        views[slot].forecastCpuAtQuantile = demand.cpuCores.atQuantile
        views[slot].forecastCpuConfidence = demand.cpuCores.confidence
        return demand
    }

    /// The upper edge of the log2 bucket holding `quantile` of the window's waits.
    @inline(__always)
    private func waitQuantile(base: Int, total: Double, quantile: Double) -> Double {
        let rank = total * quantile
        var running = 0.0
        for bucket in 0..<TelemetryFrame.waitBucketCount {
            running += waitWindow[base + bucket]
            if running >= rank { return Double(UInt64(1) << UInt64(bucket + 1)) }
        }
        return Double(UInt64(1) << UInt64(TelemetryFrame.waitBucketCount))
    }

    private func solveAndEnforce(table: TenantTable, reason: SolveReason, nowNanoseconds: UInt64) {
        let solveStart = dpm_monotonic_ns()
        lastSolveNanoseconds = nowNanoseconds
        guard let plan = table.plan else { return }
        let why = describe(reason, table)
        for index in table.specs.indices { table.present[index] = !views[table.slots[index]].vanished }
        let live = table.specs.indices.filter { table.present[$0] }
        let specs = live.map { table.specs[$0] }
        var outcome: SolveOutcome
        do {
            outcome = try plan.solve(demands: table.demands, present: table.present)
        } catch {
            loopView.solveFailures &+= 1
            history.append(SolveRecord(atNanoseconds: nowNanoseconds, reason: why, outcome: nil, applied: applied, changes: [], failure: "solve: \(error)"))
            return
        }
        loopView.solves &+= 1
        loopView.solverIterationsTotal &+= UInt64(max(outcome.iterations, 0))
        for index in live { lastSolvedCpu[table.slots[index]] = table.demands[index].cpuCores.atQuantile }
        let solved = dpm_monotonic_ns()
        histograms.solve.record(solved - solveStart)

        let (next, changes) = Damping.damp(
            proposed: outcome.allocation, applied: applied, host: table.host, specs: specs,
            lastChangeNanoseconds: lastChange, nowNanoseconds: nowNanoseconds, settings: config.hysteresis
        )
        var failure: String?
        if !changes.isEmpty { outcome.explanations = plan.explain(names: changes.map(\.tenant)) }
        if !changes.isEmpty {
            do {
                loopView.enforceWrites &+= UInt64(try enforcer.apply(next, specs: specs, host: table.host))
                applied = next
                for change in changes { lastChange[change.tenant] = nowNanoseconds }
                for index in live {
                    let slot = table.slots[index]
                    guard let given = next.tenants[table.specs[index].name] else { continue }
                    views[slot].setExclusiveCores(given.exclusiveCoreIDs)
                    views[slot].sharedCpuCores = given.sharedCpuCores
                    views[slot].cpuWeight = Int32(clamping: given.cpuWeight)
                    views[slot].memoryMaxBytes = given.memoryMaxBytes
                    if changes.contains(where: { $0.tenant == table.specs[index].name }) { views[slot].lastChangeNanoseconds = nowNanoseconds }
                }
            } catch {
                loopView.enforceFailures &+= 1
                failure = "enforce: \(error)"
            }
            histograms.enforce.record(dpm_monotonic_ns() - solved)
        }
        history.append(SolveRecord(atNanoseconds: nowNanoseconds, reason: why, outcome: outcome, applied: applied, changes: failure == nil ? changes : [], failure: failure))
    }

    private func describe(_ reason: SolveReason, _ table: TenantTable) -> String {
        switch reason {
        case .everyTick: "every tick"
        case .tableChanged: "tenant table changed (generation \(table.generation))"
        case let .forecastMoved(index):
            "forecast of \(table.specs[index].name) moved to \(table.demands[index].cpuCores.atQuantile) cores (last solve used \(lastSolvedCpu[table.slots[index]]))"
        case let .objectiveMissed(index):
            "\(table.specs[index].name) missed its run-queue wait objective (p99 \(table.demands[index].measuredRunQueueWaitP99Nanoseconds ?? 0) ns)"
        }
    }

    private func publish() {
        let tableSlots = table?.slots
        snapshot.write { tenants, loop in
            loop.pointee = loopView
            if let tableSlots {
                for slot in tableSlots { tenants[slot] = views[slot] }
            }
        }
    }
}

/// Preallocated histograms of the loop's own timing, in nanoseconds.
public final class LoopHistograms: Sendable {
    /// How late each wake-up was against its absolute deadline.
    public let lateness = LatencyHistogram()
    /// Whole tick work, wake-up to publish.
    public let work = LatencyHistogram()
    public let drain = LatencyHistogram()
    public let foldAndPredict = LatencyHistogram()
    public let solve = LatencyHistogram()
    public let enforce = LatencyHistogram()
    public let publish = LatencyHistogram()

    public init() {}

    /// Stage name and histogram, for metrics and status.
    public var stages: [(name: String, histogram: LatencyHistogram)] {
        [("drain", drain), ("fold_predict", foldAndPredict), ("solve", solve), ("enforce", enforce), ("publish", publish)]
    }
}
