import CLoopSystem
import Pool

/// The body of one tick: drain telemetry → fold per-tenant samples → Predict → Solve when needed → Enforce the
/// diff → publish a snapshot.
///
/// - Important: `tick(nowNanoseconds:)` runs on the tick thread only. It does not allocate in steady state, nor on
///   a solve that leaves every allocation as it is: every per-tenant buffer is preallocated for `capacity` slots
///   or in the tenant table, and the solve's result is compared slot by slot. A solve that changes an allocation
///   (or follows a table change or a vanished tenant) builds an `Allocation` and a `SolveRecord`, which allocate.
///   Solves happen only when a forecast moved past the threshold, an objective was missed or the table changed.
///
/// What a steady tick costs per slot: a slot with no waits skips its wait window (the window is kept at a growing
/// scale, so its uniform decay costs nothing per slot), and a slot quiescent for a second (no CPU, no waits, no
/// memory reading) skips its forecaster too: it costs a few loads and stores.
///
/// Each tenant is sized for the peak of its forecast over the last shrink hold (`PeakHold`): a rise reaches the
/// solver on the tick it is forecast, a fall only once it has lasted. Moving forecasts trigger solves at a bounded
/// rate (`SolveTokens`).
///
/// A tenant held by its CFS quota cannot use more than the quota, so its usage hides what it wants: its throttle
/// watch (`ThrottleWatch`) gives the forecaster its runnable demand instead, and the saturation rule
/// (`SaturationRule`) raises a tenant that spent its quota at once and solves on that tick. An idle slot settles
/// (`IdleSettling`): its fold, its solve triggers and its publishing are skipped until telemetry shows it again.
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
    /// Run-queue wait buckets per slot (slot-major), the window the wait quantiles are read from, stored multiplied
    /// by `waitScale`: the window decays by `waitDecay` per tick, which is the same as adding each tick's waits at
    /// a scale that grows by 1/`waitDecay` per tick. A uniform decay moves no quantile, so a slot's quantiles are
    /// recomputed only on ticks that brought it waits.
    private let waitWindow: UnsafeMutableBufferPointer<Double>
    /// Each slot's window total, at `waitScale`.
    private let waitTotal: UnsafeMutableBufferPointer<Double>
    private var waitScale = 1.0
    /// Each slot's run-queue wait objective, p99 in nanoseconds (infinity: none), copied from its spec at adoption
    /// so the tick does not copy specs.
    private let waitObjective: UnsafeMutableBufferPointer<Double>
    /// CPU forecast (at quantile, held at its peak) that each slot had at the last solve, and its expected value.
    private let lastSolvedCpu: UnsafeMutableBufferPointer<Double>
    private let lastSolvedExpectedCpu: UnsafeMutableBufferPointer<Double>
    /// CPU each slot holds in the applied allocation (exclusive cores plus shared cores).
    private let heldCpuCores: UnsafeMutableBufferPointer<Double>
    /// Each slot's last demand from the forecaster (with this tick's measured wait).
    private let slotDemand: UnsafeMutableBufferPointer<TenantDemand>
    /// Each slot's way to being skipped while it idles (see `IdleSettling`).
    private let idle: UnsafeMutableBufferPointer<IdleSettling>
    /// Moves on every solve, table change and peak rotation (whatever may change whether a quiet slot triggers a
    /// solve): a settled slot skips its solve triggers while the epoch in which they last fired nothing stands.
    private var checkEpoch: UInt64 = 0
    /// Each slot's CPU forecast held at its recent peak (`PeakHold`).
    private let peak: UnsafeMutableBufferPointer<PeakHold>
    /// Each slot's throttle watch and saturation rule.
    private let throttleWatch: UnsafeMutableBufferPointer<ThrottleWatch>
    private let saturation: UnsafeMutableBufferPointer<SaturationRule>
    /// When the current and the previous half of a quota period started (the saturation rule's span).
    private var halfPeriodStartNanoseconds: UInt64 = 0
    private var lastHalfPeriodStartNanoseconds: UInt64 = 0
    private var peakWindowStartNanoseconds: UInt64 = 0
    private let views: UnsafeMutableBufferPointer<TenantView>
    private var loopView = LoopView()

    private var table: TenantTable?
    private var applied = Allocation()
    /// When each served tenant's allocation last changed (tick thread only; pruned to the table's tenants on adopt).
    private(set) var lastChange: [String: UInt64] = [:]
    private var previousTickNanoseconds: UInt64 = 0
    /// When the loop last solved; a missed objective triggers a solve at most once per hysteresis hold.
    private var lastSolveNanoseconds: UInt64 = 0
    /// When the shrink the last solve held back may apply: the loop solves again then (nil: none held).
    private var shrinkHeldUntilNanoseconds: UInt64?
    private var solveTokens = SolveTokens()

    /// Per tick, the weight the wait window keeps of its past (a window of about 200 ticks).
    private let waitDecay = 0.995
    /// The wait scale is folded back into the window (every ~70 s at a 1 ms tick) before it nears overflow.
    private let waitScaleLimit = 1e150
    /// After this many ticks of measuring nothing (one second) a slot is quiescent: its forecaster is not fed until
    /// it measures something (`IdleSettling`).
    private let quiescentAfterTicks: UInt32
    /// A slot's average use below this (cores) is zero.
    private static let negligibleCpuCores = 1e-9

    public init(
        config: AgentConfig, capacity: Int, telemetry: any TelemetrySource, forecaster: any DemandForecaster,
        enforcer: any AllocationEnforcing
    ) {
        self.config = config
        self.capacity = capacity
        self.telemetry = telemetry
        self.forecaster = forecaster
        self.enforcer = enforcer
        quiescentAfterTicks = UInt32(clamping: 1_000_000_000 / max(config.tickNanoseconds, 1))
        snapshot = SnapshotBuffer(capacity: capacity)
        frame = TelemetryFrame(capacity: capacity)
        waitWindow = .filled(capacity * TelemetryFrame.waitBucketCount, with: 0)
        waitTotal = .filled(capacity, with: 0)
        waitObjective = .filled(capacity, with: .infinity)
        lastSolvedCpu = .filled(capacity, with: 0)
        lastSolvedExpectedCpu = .filled(capacity, with: 0)
        heldCpuCores = .filled(capacity, with: 0)
        slotDemand = .filled(capacity, with: TenantDemand())
        idle = .filled(capacity, with: IdleSettling())
        peak = .filled(capacity, with: PeakHold())
        throttleWatch = .filled(capacity, with: ThrottleWatch())
        saturation = .filled(capacity, with: SaturationRule())
        views = .filled(capacity, with: TenantView())
    }

    deinit {
        waitWindow.deallocate()
        waitTotal.deallocate()
        waitObjective.deallocate()
        lastSolvedCpu.deallocate()
        lastSolvedExpectedCpu.deallocate()
        heldCpuCores.deallocate()
        slotDemand.deallocate()
        idle.deallocate()
        peak.deallocate()
        throttleWatch.deallocate()
        saturation.deallocate()
        views.deallocate()
    }

    /// The allocation last applied (tick thread; read it elsewhere only after the tick thread stopped).
    public var appliedAllocation: Allocation { applied }

    /// Runs one tick at `nowNanoseconds` (CLOCK_MONOTONIC).
    public func tick(nowNanoseconds: UInt64) {
        let start = dpm_monotonic_ns()
        var cause: SolveRecord.Cause? = config.solvePolicy == .everyTick ? .everyTick : nil
        if let next = tables.take() {
            adopt(next)
            cause = .tableChanged(generation: next.generation)
        }
        let elapsed = previousTickNanoseconds == 0 ? config.tickNanoseconds : max(nowNanoseconds - previousTickNanoseconds, 1)
        previousTickNanoseconds = nowNanoseconds
        let rotateHalfPeriods = nowNanoseconds &- halfPeriodStartNanoseconds >= SaturationRule.quotaPeriodNanoseconds / 2
        if rotateHalfPeriods {
            lastHalfPeriodStartNanoseconds = halfPeriodStartNanoseconds
            halfPeriodStartNanoseconds = nowNanoseconds
        }
        // The saturation rule's span: the last half period and this one, at most a period.
        frame.ongoingRunsSinceNanoseconds = max(lastHalfPeriodStartNanoseconds, nowNanoseconds &- min(nowNanoseconds, SaturationRule.quotaPeriodNanoseconds))

        telemetry.drain(into: frame, nowNanoseconds: nowNanoseconds)
        let drained = dpm_monotonic_ns()
        histograms.drain.record(drained - start)

        waitScale /= waitDecay
        if waitScale > waitScaleLimit { renormaliseWaitWindow() }
        let rotatePeaks = nowNanoseconds &- peakWindowStartNanoseconds >= config.hysteresis.shrinkHoldNanoseconds / 2
        if rotatePeaks {
            peakWindowStartNanoseconds = nowNanoseconds
            checkEpoch &+= 1
        }
        solveTokens.refill(nowNanoseconds: nowNanoseconds, intervalNanoseconds: config.solveMinimumIntervalNanoseconds)
        // Read once: every access to a stored `var` of a class (this one's, the frame's) is checked for exclusivity at
        // run time.
        let scale = waitScale
        let measuresRunQueueWait = frame.measuresRunQueueWait
        let mayTriggerSolve = solveTokens.mayTriggerSolve
        var triggeringSlot: Int?

        if let table {
            for index in 0..<table.specs.count {
                let slot = table.slots[index]
                if rotatePeaks { peak[slot].rotate() }
                if rotateHalfPeriods { saturation[slot].rotateHalfPeriod() }
                fold(
                    slot: slot, capCpuCores: table.specs[index].cap.cpuCores, measuresRunQueueWait: measuresRunQueueWait, waitScale: scale,
                    elapsedNanoseconds: elapsed, nowNanoseconds: nowNanoseconds)
                peak[slot].observe(slotDemand[slot].cpuCores)
                // A settled slot that triggered nothing since the last solve, table change or peak rotation triggers
                // nothing now: its demand, what it was solved at and what it holds are as they were.
                guard cause == nil, !idle[slot].skipsSolveChecks(epoch: checkEpoch) else { continue }
                if let triggered = solveCause(table: table, index: index, mayTriggerSolve: mayTriggerSolve, nowNanoseconds: nowNanoseconds) {
                    cause = triggered
                    triggeringSlot = slot
                } else if mayTriggerSolve {
                    idle[slot].triggeredNothing(epoch: checkEpoch)
                }
            }
        }
        if cause == nil, let heldUntil = shrinkHeldUntilNanoseconds, nowNanoseconds >= heldUntil { cause = .shrinkHoldEnded }
        if let triggeringSlot, table?.plan != nil { views[triggeringSlot].solvesTriggered &+= 1 }
        let predicted = dpm_monotonic_ns()
        histograms.foldAndPredict.record(predicted - drained)

        if let cause, let table { solveAndEnforce(table: table, cause: cause, nowNanoseconds: nowNanoseconds) }
        let enforced = dpm_monotonic_ns()

        loopView.ticks &+= 1
        loopView.droppedRecords &+= frame.droppedRecords
        loopView.lastTickNanoseconds = nowNanoseconds
        // A solve or a table change writes views outside the fold (allocation, triggers): publish every slot then.
        publish(everySlot: cause != nil)
        let end = dpm_monotonic_ns()
        histograms.publish.record(end - enforced)
        histograms.work.record(end - start)
    }

    /// Counts a tick the schedule had to skip.
    func countMissed(_ ticks: UInt64) { loopView.missedTicks &+= ticks }

    // MARK: Stages

    private func adopt(_ next: TenantTable) {
        checkEpoch &+= 1
        let kept = Set(next.slots)
        if let old = table {
            for slot in old.slots where !kept.contains(slot) { views[slot] = TenantView() }
        }
        let known = Set(table?.slots ?? [])
        for slot in next.slots where !known.contains(slot) {
            views[slot] = TenantView()
            views[slot].slot = Int32(slot)
            lastSolvedCpu[slot] = 0
            lastSolvedExpectedCpu[slot] = 0
            heldCpuCores[slot] = 0
            slotDemand[slot] = TenantDemand()
            peak[slot] = PeakHold()
            throttleWatch[slot] = ThrottleWatch()
            saturation[slot] = SaturationRule()
            frame.watchesThrottling[slot] = false
            waitTotal[slot] = 0
            for bucket in 0..<TelemetryFrame.waitBucketCount { waitWindow[slot * TelemetryFrame.waitBucketCount + bucket] = 0 }
        }
        for index in next.slots.indices {
            forecaster.adopt(cpuPrior: next.cpuPriors[index], slot: next.slots[index])
            // A model rebuilt with a new prior must see observations again, even of an idle tenant.
            idle[next.slots[index]] = IdleSettling()
            waitObjective[next.slots[index]] = next.specs[index].slo.runQueueWaitP99Nanoseconds ?? .infinity
        }
        // A retired tenant's change time goes with it: kept, the map grows by one entry per tenant ever served and a
        // newcomer of the same name inherits the old tenant's shrink hold.
        if !lastChange.isEmpty {
            let names = Set(next.specs.map(\.name))
            lastChange = lastChange.filter { names.contains($0.key) }
        }
        for index in next.specs.indices { next.current[index] = applied.tenants[next.specs[index].name] }
        table = next
        loopView.tableGeneration = next.generation
        loopView.tenantCount = Int32(next.specs.count)
    }

    /// Folds one slot's telemetry into its view and, unless the slot is quiescent, asks the forecaster for its
    /// demand (left in `slotDemand[slot]`). `capCpuCores`: the tenant's CPU cap, from its spec;
    /// `measuresRunQueueWait`: the frame's, read once per tick.
    @inline(__always)
    private func fold(
        slot: Int, capCpuCores: Double, measuresRunQueueWait: Bool, waitScale: Double, elapsedNanoseconds: UInt64, nowNanoseconds: UInt64
    ) {
        let cpu = frame.cpuNanoseconds[slot]
        let ongoingRun = frame.ongoingRunNanoseconds[slot]
        let waitMask = frame.waitBucketMasks[slot]
        let memory = frame.memoryBytes[slot]
        // One test of the frame's measurements for both uses below, so that a new one cannot be left out of either.
        let measuredNothing = cpu == 0 && ongoingRun == 0 && waitMask == 0 && !memory.isFinite
        if idle[slot].skipsFold(nothingNew: measuredNothing && frame.throttledNanoseconds[slot] == 0 && !frame.vanished[slot]) { return }
        views[slot].cpuNanosecondsTotal &+= cpu
        views[slot].usageCpuCores = Double(cpu) / Double(elapsedNanoseconds)
        views[slot].usageCpuCoresAverage += (views[slot].usageCpuCores - views[slot].usageCpuCoresAverage) * 0.01
        // An idle tenant's average decays towards zero without reaching it, into subnormal numbers (slow arithmetic)
        // after about 70 s: below a nanocore it is zero.
        if views[slot].usageCpuCoresAverage < Self.negligibleCpuCores { views[slot].usageCpuCoresAverage = 0 }
        if frame.vanished[slot] { views[slot].vanished = true }
        views[slot].usageMemoryBytes = memory
        var waitP99: Double?
        if measuresRunQueueWait {
            let base = slot * TelemetryFrame.waitBucketCount
            if waitMask != 0 {
                var bits = waitMask
                while bits != 0 {
                    let bucket = bits.trailingZeroBitCount
                    let added = Double(frame.waits(slot: slot, bucket: bucket)) * waitScale
                    waitWindow[base + bucket] += added
                    waitTotal[slot] += added
                    bits &= bits - 1
                }
                if waitTotal[slot] >= waitScale { updateWaitQuantiles(slot: slot, base: base) }
            }
            // The window holds at least one wait (at today's weight): its quantiles stand.
            if waitTotal[slot] >= waitScale {
                let p99 = views[slot].runQueueWaitP99Nanoseconds
                waitP99 = p99
                if p99 > waitObjective[slot] { views[slot].sloViolationTicks &+= 1 }
            }
        }
        // A slot without exclusive cores runs under a quota of at least its shared cores (Enforce).
        frame.watchesThrottling[slot] = throttleWatch[slot].fold(
            watching: frame.watchesThrottling[slot], cpuNanoseconds: cpu, throttledNanoseconds: frame.throttledNanoseconds[slot],
            aboveQuota: !views[slot].ownsExclusiveCores && views[slot].usageCpuCores > views[slot].sharedCpuCores,
            elapsedNanoseconds: elapsedNanoseconds, nowNanoseconds: nowNanoseconds)
        let runnableCpuCores = throttleWatch[slot].runnableCpuCores
        let demandCpuCores = max(views[slot].usageCpuCores, runnableCpuCores)
        frame.clear(slot: slot)
        let quiescent = idle[slot].folded(quiet: measuredNothing && demandCpuCores == 0, quiescentAfterTicks: quiescentAfterTicks)
        guard !quiescent else {
            slotDemand[slot].measuredRunQueueWaitP99Nanoseconds = waitP99
            idle[slot].settleIfStill(
                waitQuantileStands: waitP99 != nil, watchesThrottling: frame.watchesThrottling[slot],
                averageCpuCores: views[slot].usageCpuCoresAverage)
            return
        }
        // A tenant the loop has not given an allocation yet holds no quota of the loop's.
        let saturated = saturation[slot].fold(
            cpuNanoseconds: cpu, ongoingRunNanoseconds: ongoingRun,
            quotaLimited: !views[slot].ownsExclusiveCores && views[slot].lastChangeNanoseconds != 0,
            sharedCpuCores: views[slot].sharedCpuCores, heldCpuCores: heldCpuCores[slot], capCpuCores: capCpuCores,
            averageCpuCores: views[slot].usageCpuCoresAverage, runnableCpuCores: runnableCpuCores, nowNanoseconds: nowNanoseconds)
        var demand = forecaster.observe(
            slot: slot, usage: ResourceVector(cpuCores: demandCpuCores, memoryBytes: memory),
            runQueueWaitP99Nanoseconds: waitP99, nowNanoseconds: nowNanoseconds
        )
        if saturated > demand.cpuCores.expected {
            demand.cpuCores = Forecast(expected: saturated, atQuantile: max(saturated, demand.cpuCores.atQuantile), confidence: demand.cpuCores.confidence)
        }
        slotDemand[slot] = demand
        views[slot].forecastCpuExpected = demand.cpuCores.expected
        views[slot].forecastCpuAtQuantile = demand.cpuCores.atQuantile
        views[slot].forecastCpuConfidence = demand.cpuCores.confidence
    }

    /// What makes the tenant `table.specs[index]` trigger a solve this tick, if anything: a saturated quota, a missed
    /// run-queue wait objective (at most once per shrink hold), or (`mayTriggerSolve`) a forecast that moved. A
    /// vanished tenant, or one whose demand stays above what it holds as it was when last solved, triggers nothing.
    @inline(__always)
    private func solveCause(table: TenantTable, index: Int, mayTriggerSolve: Bool, nowNanoseconds: UInt64) -> SolveRecord.Cause? {
        let slot = table.slots[index]
        let demand = heldDemand(slot: slot)
        // A tenant on exclusive cores gets exactly its cores: its whole-core wish, from the demand at quantile, is
        // what a solve could move; a tenant on the shared pool is costed from its expected.
        let ownsCores = views[slot].ownsExclusiveCores
        let lastSolvedDemand = ownsCores ? max(lastSolvedCpu[slot], lastSolvedExpectedCpu[slot]) : lastSolvedExpectedCpu[slot]
        let nowDemand = ownsCores ? max(demand.cpuCores.atQuantile, demand.cpuCores.expected) : demand.cpuCores.expected
        if views[slot].vanished || Damping.demandStaysUnmet(
            lastSolvedExpectedCpuCores: lastSolvedDemand * table.cpuDemandFactors[index],
            nowExpectedCpuCores: nowDemand * table.cpuDemandFactors[index],
            heldCpuCores: heldCpuCores[slot], margin: config.hysteresis.cpuCores
        ) {
            return nil
        }
        if saturation[slot].raisedAtNanoseconds == nowNanoseconds {
            return .quotaSaturated(tenant: table.specs[index].name, toCpuCores: saturation[slot].raisedCpuCores, heldCpuCores: heldCpuCores[slot])
        }
        if let measured = demand.measuredRunQueueWaitP99Nanoseconds, measured > waitObjective[slot],
           nowNanoseconds >= lastSolveNanoseconds + config.hysteresis.shrinkHoldNanoseconds {
            return .objectiveMissed(tenant: table.specs[index].name, runQueueWaitP99Nanoseconds: measured)
        }
        if case let .onChange(threshold) = config.solvePolicy, mayTriggerSolve, Damping.forecastMoved(
            lastSolved: lastSolvedCpu[slot], now: demand.cpuCores.atQuantile,
            minimumMove: max(demand.cpuCores.atQuantile - demand.cpuCores.expected, config.hysteresis.cpuCores),
            relativeThreshold: threshold
        ) {
            return .forecastMoved(tenant: table.specs[index].name, toCpuCores: demand.cpuCores.atQuantile, lastSolvedCpuCores: lastSolvedCpu[slot])
        }
        return nil
    }

    /// The demand the solver sees for a slot: its last forecast with the CPU forecast held at its recent peak.
    @inline(__always)
    private func heldDemand(slot: Int) -> TenantDemand {
        var demand = slotDemand[slot]
        demand.cpuCores = peak[slot].held
        return demand
    }

    /// The p50, p90 and p99 of a slot's wait window in one pass: each is the upper edge of the log2 bucket
    /// holding it.
    private func updateWaitQuantiles(slot: Int, base: Int) {
        let total = waitTotal[slot]
        let ranks = (total * 0.5, total * 0.9, total * 0.99)
        var found = (Double.nan, Double.nan, Double.nan)
        var running = 0.0
        for bucket in 0..<TelemetryFrame.waitBucketCount {
            running += waitWindow[base + bucket]
            let edge = Double(UInt64(1) << UInt64(bucket + 1))
            if found.0.isNaN, running >= ranks.0 { found.0 = edge }
            if found.1.isNaN, running >= ranks.1 { found.1 = edge }
            if running >= ranks.2 {
                found.2 = edge
                break
            }
        }
        // Rounding can leave the running sum a hair under a rank: such a quantile is in the top bucket.
        let top = Double(UInt64(1) << UInt64(TelemetryFrame.waitBucketCount))
        views[slot].runQueueWaitP50Nanoseconds = found.0.isNaN ? top : found.0
        views[slot].runQueueWaitP90Nanoseconds = found.1.isNaN ? top : found.1
        views[slot].runQueueWaitP99Nanoseconds = found.2.isNaN ? top : found.2
    }

    /// Divides the scale out of every slot's wait window (rare: see `waitScaleLimit`).
    private func renormaliseWaitWindow() {
        let inverse = 1 / waitScale
        for index in waitWindow.indices { waitWindow[index] *= inverse }
        for slot in waitTotal.indices { waitTotal[slot] *= inverse }
        waitScale = 1
        // Rounding may bring a window total back to one wait: every slot folds again and settles anew.
        for slot in idle.indices { idle[slot].wake() }
    }

    private func solveAndEnforce(table: TenantTable, cause: SolveRecord.Cause, nowNanoseconds: UInt64) {
        let solveStart = dpm_monotonic_ns()
        lastSolveNanoseconds = nowNanoseconds
        checkEpoch &+= 1
        shrinkHeldUntilNanoseconds = nil
        solveTokens.take()
        guard let plan = table.plan else { return }
        var everyonePresent = true
        for index in table.specs.indices {
            table.demands[index] = heldDemand(slot: table.slots[index])
            table.present[index] = !views[table.slots[index]].vanished
            everyonePresent = everyonePresent && table.present[index]
        }
        let iterations: Int
        do {
            iterations = try plan.solve(demands: table.demands, present: table.present, into: &table.proposed)
        } catch {
            loopView.solveFailures &+= 1
            history.append(SolveRecord(atNanoseconds: nowNanoseconds, cause: cause, outcome: nil, applied: applied, changes: [], failure: "solve: \(error)"))
            return
        }
        loopView.solves &+= 1
        loopView.solvesByCause.count(cause)
        loopView.solverIterationsTotal &+= UInt64(max(iterations, 0))
        for index in table.specs.indices where table.present[index] {
            lastSolvedCpu[table.slots[index]] = table.demands[index].cpuCores.atQuantile
            lastSolvedExpectedCpu[table.slots[index]] = table.demands[index].cpuCores.expected
        }
        let solved = dpm_monotonic_ns()
        histograms.solve.record(solved - solveStart)
        // A table change may bring new guarantees that the applied partition breaks: Damping checks it by name.
        var mayKeepEveryAllocation = everyonePresent
        if case .tableChanged = cause { mayKeepEveryAllocation = false }
        if mayKeepEveryAllocation, solveKeepsEveryAllocation(table: table, nowNanoseconds: nowNanoseconds) { return }
        applyChanges(table: table, cause: cause, iterations: iterations, everyonePresent: everyonePresent, nowNanoseconds: nowNanoseconds, solvedNanoseconds: solved)
    }

    /// Whether, after damping, the solve in `table.proposed` leaves every tenant with what it holds; then it also
    /// sets when a shrink it held back may apply. Compares slot by slot, without building an `Allocation` (a solve
    /// that changes nothing leaves no `SolveRecord`; the counters count it).
    private func solveKeepsEveryAllocation(table: TenantTable, nowNanoseconds: UInt64) -> Bool {
        var heldUntil: UInt64?
        for index in table.specs.indices {
            guard let current = table.current[index] else { return false }
            var next = table.proposed[index]
            // 0: never changed (CLOCK_MONOTONIC is past 0 by the first tick).
            let changedAt = views[table.slots[index]].lastChangeNanoseconds
            let holdEnds = changedAt == 0 ? nil : changedAt + config.hysteresis.shrinkHoldNanoseconds
            let held = holdEnds.map { nowNanoseconds < $0 } ?? false
            let shrinkHeld = Damping.dampTenant(&next, current: current, held: held, settings: config.hysteresis)
            guard next == current else { return false }
            if shrinkHeld, let holdEnds { heldUntil = min(heldUntil ?? holdEnds, holdEnds) }
        }
        shrinkHeldUntilNanoseconds = heldUntil
        return true
    }

    /// Damps the solve in `table.proposed` against the applied allocation by name, enforces and records the changes.
    private func applyChanges(table: TenantTable, cause: SolveRecord.Cause, iterations: Int, everyonePresent: Bool, nowNanoseconds: UInt64, solvedNanoseconds solved: UInt64) {
        guard let plan = table.plan else { return }
        // The live tenants' specs: the table's own array unless a cgroup vanished.
        let specs = everyonePresent ? table.specs : zip(table.specs, table.present).filter { $0.1 }.map { $0.0 }
        var proposed = Allocation()
        for index in table.specs.indices where table.present[index] { proposed.tenants[table.specs[index].name] = table.proposed[index] }
        var outcome = SolveOutcome(allocation: proposed, iterations: iterations)
        let (next, changes, heldUntil) = Damping.damp(
            proposed: proposed, applied: applied, host: table.host, specs: specs,
            lastChangeNanoseconds: lastChange, nowNanoseconds: nowNanoseconds, settings: config.hysteresis
        )
        shrinkHeldUntilNanoseconds = heldUntil
        var failure: String?
        if !changes.isEmpty { outcome.explanations = plan.explain(names: changes.map(\.tenant)) }
        if !changes.isEmpty {
            do {
                loopView.enforceWrites &+= UInt64(try enforcer.apply(next, specs: specs, host: table.host))
                applied = next
                loopView.solvesChangingAllocation &+= 1
                for change in changes { lastChange[change.tenant] = nowNanoseconds }
                for index in table.specs.indices where table.present[index] {
                    let slot = table.slots[index]
                    table.current[index] = next.tenants[table.specs[index].name]
                    guard let given = table.current[index] else { continue }
                    views[slot].setExclusiveCores(given.exclusiveCoreIDs)
                    views[slot].sharedCpuCores = given.sharedCpuCores
                    heldCpuCores[slot] = given.cpuCores
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
        history.append(SolveRecord(atNanoseconds: nowNanoseconds, cause: cause, outcome: outcome, applied: applied, changes: failure == nil ? changes : [], failure: failure))
    }

    /// Copies the loop's view and the tenants' views into the snapshot: every slot, or (`everySlot` false) all but
    /// the settled ones, whose views the tick left as they were published.
    private func publish(everySlot: Bool) {
        let tableSlots = table?.slots
        snapshot.write { tenants, loop in
            loop.pointee = loopView
            if let tableSlots {
                for slot in tableSlots where everySlot || !idle[slot].isSettled { tenants[slot] = views[slot] }
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
