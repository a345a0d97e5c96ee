import CLoopSystem
import Enforce
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
/// Each tenant is sized for the peak of its forecast over the last shrink hold (between half and all of it): a
/// rise reaches the solver on the tick it is forecast, a fall only once it has lasted. A tenant whose 1 ms usage
/// flips between 0 and 1 core as the scheduler time-slices it therefore keeps one demand instead of triggering a
/// solve every few ticks, and the solver never shrinks it on a tick that happened to catch it descheduled.
///
/// A tenant held by its CFS quota cannot use more than the quota, so its usage hides what it wants. A tick at a
/// rate above its quota (it spends the period's budget faster than it refills) has the telemetry read its
/// throttled time for a while (`TelemetryFrame.watchesThrottling`); when the kernel reports throttling, the CPU it
/// used plus the time it was held, over the same span, is its runnable demand, and the forecaster sees that
/// instead of the usage until the report goes stale.
///
/// That report comes when a period ends, and Predict re-anchors on a new level only after about four values, so a
/// tenant that starts spinning under a small quota would wait a period and more for a larger one. The saturation
/// rule answers at once: a tenant whose CPU use over the last quota period reached its quota (it was throttled, its
/// true demand unknown) has its CPU demand raised to twice what its quota holds (bounded by its cap) and triggers a
/// solve on that tick (`SolveRecord.Cause.quotaSaturated`). A running task's CPU time is published when it switches
/// out, and under a quota that is the throttle, which the kernel (HZ=250 here) applies only at its next 4 ms
/// scheduler tick: up to 4 ms after the quota ran out, then up to a millisecond each for the flush and the tick. So
/// the rule also counts the tenant's ongoing runs in its span (`TelemetryFrame.ongoingRunNanoseconds`, from what each
/// CPU runs now), and a spinner is raised on the first tick after it spent its quota. Once a throttle report
/// stands, the runnable demand it shows takes over; until then a tenant still saturated a period after a raise is
/// raised again from what it then holds (multiplicative increase). Guards against a bursty tenant that merely uses its quota: only a rise is raised (average use below
/// half the quota: a spinner held at its share of a contended pool uses its quota without being throttled), a raise
/// the solver did not grant is not repeated for ten seconds, the raise lasts only until a report or
/// `saturationStandsNanoseconds`, the solver sees it held at its peak for the shrink hold like any forecast
/// (then it falls back), and a raise the last solve already saw and did not grant triggers nothing
/// (`Damping.demandStaysUnmet`).
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
    /// Consecutive ticks each slot measured nothing (no CPU, no waits, no memory reading), saturating.
    private let quietTicks: UnsafeMutableBufferPointer<UInt32>
    /// Per slot: `.settling` when its last fold left it quiescent with nothing that still moves (no wait quantile
    /// standing, no throttle watch or report, its average use at zero), so that a fold with nothing new would leave
    /// its view and demand as they are; `.settled` once a tick skipped that fold (its view is then published
    /// already and is not copied again). Any telemetry for the slot makes it fold again on the same tick.
    private let settling: UnsafeMutableBufferPointer<Settling>
    /// `checkEpoch` moves on every solve, table change and peak rotation (whatever may change whether a quiet slot
    /// triggers a solve); `quietCheckEpoch` is the epoch in which a settled slot last triggered nothing.
    private var checkEpoch: UInt64 = 0
    private let quietCheckEpoch: UnsafeMutableBufferPointer<UInt64>
    /// Highest CPU forecast (by its value at quantile) of each slot in the current and the previous half of the
    /// shrink hold; the demand the solver sees is the higher of the two.
    private let peakCurrent: UnsafeMutableBufferPointer<Forecast>
    private let peakPrevious: UnsafeMutableBufferPointer<Forecast>
    /// Throttle watch per slot: until when the telemetry reads its throttling, since when (the watch's start or the
    /// last throttle report), the CPU it used since then, and the runnable demand the last report showed (cores,
    /// 0: none standing).
    private let throttleWatchUntilNanoseconds: UnsafeMutableBufferPointer<UInt64>
    private let throttleMarkNanoseconds: UnsafeMutableBufferPointer<UInt64>
    private let cpuNanosecondsSinceThrottleMark: UnsafeMutableBufferPointer<UInt64>
    private let runnableCpuCores: UnsafeMutableBufferPointer<Double>
    /// CPU each slot used in the current and the previous half of a quota period: their sum covers between half a
    /// period and a whole one up to now, the span the saturation rule compares with the quota.
    private let cpuNanosecondsThisHalfPeriod: UnsafeMutableBufferPointer<UInt64>
    private let cpuNanosecondsLastHalfPeriod: UnsafeMutableBufferPointer<UInt64>
    private var halfPeriodStartNanoseconds: UInt64 = 0
    private var lastHalfPeriodStartNanoseconds: UInt64 = 0
    /// The CPU demand the saturation rule raised each slot to (cores, 0: none standing) and when.
    private let saturatedCpuCores: UnsafeMutableBufferPointer<Double>
    private let saturatedAtNanoseconds: UnsafeMutableBufferPointer<UInt64>
    /// The CPU each slot held when it was last raised; -infinity once the raise grew its allocation (granted).
    private let heldCpuCoresAtRaise: UnsafeMutableBufferPointer<Double>
    /// Each slot's CPU cap from its spec (cores), copied at adoption.
    private let capCpuCores: UnsafeMutableBufferPointer<Double>
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
    /// Solves that moving forecasts may trigger now: a bucket that fills by one per `solveMinimumInterval` up to
    /// `solveBurst`; every solve takes one.
    private var solveTokens = 0.0
    private var solveTokensAtNanoseconds: UInt64 = 0
    private let solveBurst = 4.0

    /// Per tick, the weight the wait window keeps of its past (a window of about 200 ticks).
    private let waitDecay = 0.995
    /// The wait scale is folded back into the window (every ~70 s at a 1 ms tick) before it nears overflow.
    private let waitScaleLimit = 1e150
    /// After this many ticks of measuring nothing (one second), a slot's forecaster is not fed again until the
    /// slot measures something: by then its forecast has settled at the slot's idle floor, and Predict takes the
    /// gap to the next observation as missed steps.
    private let quiescentAfterTicks: UInt32
    /// The CFS period Enforce writes quotas against.
    private static let quotaPeriodNanoseconds = UInt64(CgroupBackend.cpuPeriodMicroseconds) * 1_000
    /// How long a tick above the quota keeps the tenant's throttling read (ten periods: a tenant held at its quota
    /// goes above it in the tick it is throttled, once a period, and so stays watched).
    private let throttleWatchNanoseconds: UInt64 = 10 * ControlLoop.quotaPeriodNanoseconds
    /// A throttle report stands this long: ten periods. A tenant still held reports again when it next runs out of
    /// quota, within a period if it runs every period, but a spinner time-sliced in a full pool gets a slice (its
    /// quota) every few tens of milliseconds; at two and a half periods its demand lapsed between reports, and so
    /// did the guard that keeps the saturation rule from raising it (agent benchmark, 2026-11-30).
    private let throttleReportStandsNanoseconds: UInt64 = 10 * ControlLoop.quotaPeriodNanoseconds
    /// A saturation raise stands this long unless a throttle report replaces it first: two and a half periods, so
    /// the report of the period it saturated (read within `CpuThrottleFiles`' read interval) is due before it lapses.
    private let saturationStandsNanoseconds: UInt64 = 5 * ControlLoop.quotaPeriodNanoseconds / 2
    /// A tenant saturates its quota when it used this share of it within the last quota period: the kernel lets a
    /// throttled tenant overrun (it checks the budget at scheduler ticks, 4 ms at HZ=250), never stop short, so the
    /// margin only covers rounding between the telemetry's clock and the kernel's.
    private let saturationShare = 0.97
    /// The saturation rule is for a rise in demand: it raises a tenant only while its average use (over about 100
    /// ticks) is below this share of its quota. Without it, latency-critical spinners in the agent benchmark's
    /// contended shared pool, each using about the share it was given without being throttled, triggered 10-16
    /// solves a second (quota raised, then shrunk after the hold, then raised again).
    private let onsetShare = 0.5
    /// A raise that did not grow the tenant's allocation (the solver had nothing to give: a full pool) is not
    /// repeated for this long; its throttle reports still reach Predict, and a pool that frees up shows in its
    /// forecast. Repeated, latency-critical spinners in the agent benchmark's full shared pool, time-sliced in lumps
    /// of a few milliseconds (each a whole quota), were raised and fell back about ten times a second each (40
    /// solves a second idle, 7 of 2495 changing an allocation); retried after a second, still 9.5 solves a second
    /// idle against main's 13 solves a minute (a raise, then the solve of its fall), 1 of 600 changing an allocation.
    private let deniedRaiseRetryNanoseconds: UInt64 = 10_000_000_000
    /// A slot's average use below this (cores) is zero.
    private static let negligibleCpuCores = 1e-9

    /// Where a slot stands on its way to being skipped by the fold (see `settling`).
    private enum Settling: UInt8 {
        case active, settling, settled
    }

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
        quietTicks = .filled(capacity, with: 0)
        settling = .filled(capacity, with: .active)
        quietCheckEpoch = .filled(capacity, with: .max)
        peakCurrent = .filled(capacity, with: .zero)
        peakPrevious = .filled(capacity, with: .zero)
        throttleWatchUntilNanoseconds = .filled(capacity, with: 0)
        throttleMarkNanoseconds = .filled(capacity, with: 0)
        cpuNanosecondsSinceThrottleMark = .filled(capacity, with: 0)
        runnableCpuCores = .filled(capacity, with: 0)
        cpuNanosecondsThisHalfPeriod = .filled(capacity, with: 0)
        cpuNanosecondsLastHalfPeriod = .filled(capacity, with: 0)
        saturatedCpuCores = .filled(capacity, with: 0)
        saturatedAtNanoseconds = .filled(capacity, with: 0)
        heldCpuCoresAtRaise = .filled(capacity, with: 0)
        capCpuCores = .filled(capacity, with: .infinity)
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
        quietTicks.deallocate()
        settling.deallocate()
        quietCheckEpoch.deallocate()
        peakCurrent.deallocate()
        peakPrevious.deallocate()
        throttleWatchUntilNanoseconds.deallocate()
        throttleMarkNanoseconds.deallocate()
        cpuNanosecondsSinceThrottleMark.deallocate()
        runnableCpuCores.deallocate()
        cpuNanosecondsThisHalfPeriod.deallocate()
        cpuNanosecondsLastHalfPeriod.deallocate()
        saturatedCpuCores.deallocate()
        saturatedAtNanoseconds.deallocate()
        heldCpuCoresAtRaise.deallocate()
        capCpuCores.deallocate()
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
        let rotateHalfPeriods = nowNanoseconds &- halfPeriodStartNanoseconds >= Self.quotaPeriodNanoseconds / 2
        if rotateHalfPeriods {
            lastHalfPeriodStartNanoseconds = halfPeriodStartNanoseconds
            halfPeriodStartNanoseconds = nowNanoseconds
        }
        // The saturation rule's span: the last half period and this one, at most a period.
        frame.ongoingRunsSinceNanoseconds = max(lastHalfPeriodStartNanoseconds, nowNanoseconds &- min(nowNanoseconds, Self.quotaPeriodNanoseconds))

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
        refillSolveTokens(nowNanoseconds: nowNanoseconds)
        // Read once: every access to a stored property of this class is checked for exclusivity at run time.
        let scale = waitScale
        let mayTriggerSolve = solveTokens >= 1
        var triggeringSlot: Int?

        if let table {
            for index in 0..<table.specs.count {
                let slot = table.slots[index]
                if rotatePeaks {
                    peakPrevious[slot] = peakCurrent[slot]
                    peakCurrent[slot] = .zero
                }
                if rotateHalfPeriods {
                    cpuNanosecondsLastHalfPeriod[slot] = cpuNanosecondsThisHalfPeriod[slot]
                    cpuNanosecondsThisHalfPeriod[slot] = 0
                }
                fold(slot: slot, waitScale: scale, elapsedNanoseconds: elapsed, nowNanoseconds: nowNanoseconds)
                if slotDemand[slot].cpuCores.atQuantile > peakCurrent[slot].atQuantile { peakCurrent[slot] = slotDemand[slot].cpuCores }
                // A settled slot that triggered nothing since the last solve, table change or peak rotation triggers
                // nothing now: its demand, what it was solved at and what it holds are as they were.
                let settled = settling[slot] == .settled
                if cause == nil, !(settled && quietCheckEpoch[slot] == checkEpoch) {
                    defer { if settled, cause == nil, mayTriggerSolve { quietCheckEpoch[slot] = checkEpoch } }
                    let demand = heldDemand(slot: slot)
                    // A tenant on exclusive cores gets exactly its cores: its whole-core wish, from the demand at
                    // quantile, is what a solve could move; a tenant on the shared pool is costed from its expected.
                    let ownsCores = views[slot].ownsExclusiveCores
                    let lastSolvedDemand = ownsCores ? max(lastSolvedCpu[slot], lastSolvedExpectedCpu[slot]) : lastSolvedExpectedCpu[slot]
                    let nowDemand = ownsCores ? max(demand.cpuCores.atQuantile, demand.cpuCores.expected) : demand.cpuCores.expected
                    if views[slot].vanished || Damping.demandStaysUnmet(
                        lastSolvedExpectedCpuCores: lastSolvedDemand * table.cpuDemandFactors[index],
                        nowExpectedCpuCores: nowDemand * table.cpuDemandFactors[index],
                        heldCpuCores: heldCpuCores[slot], margin: config.hysteresis.cpuCores
                    ) {
                        continue
                    } else if saturatedAtNanoseconds[slot] == nowNanoseconds {
                        cause = .quotaSaturated(tenant: table.specs[index].name, toCpuCores: saturatedCpuCores[slot], heldCpuCores: heldCpuCores[slot])
                        triggeringSlot = slot
                    } else if let measured = demand.measuredRunQueueWaitP99Nanoseconds, measured > waitObjective[slot],
                              nowNanoseconds >= lastSolveNanoseconds + config.hysteresis.shrinkHoldNanoseconds {
                        cause = .objectiveMissed(tenant: table.specs[index].name, runQueueWaitP99Nanoseconds: measured)
                        triggeringSlot = slot
                    } else if case let .onChange(threshold) = config.solvePolicy,
                              mayTriggerSolve,
                              Damping.forecastMoved(
                                  lastSolved: lastSolvedCpu[slot], now: demand.cpuCores.atQuantile,
                                  minimumMove: max(demand.cpuCores.atQuantile - demand.cpuCores.expected, config.hysteresis.cpuCores),
                                  relativeThreshold: threshold) {
                        cause = .forecastMoved(tenant: table.specs[index].name, toCpuCores: demand.cpuCores.atQuantile, lastSolvedCpuCores: lastSolvedCpu[slot])
                        triggeringSlot = slot
                    }
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
            peakCurrent[slot] = .zero
            peakPrevious[slot] = .zero
            throttleWatchUntilNanoseconds[slot] = 0
            runnableCpuCores[slot] = 0
            cpuNanosecondsThisHalfPeriod[slot] = 0
            cpuNanosecondsLastHalfPeriod[slot] = 0
            saturatedCpuCores[slot] = 0
            saturatedAtNanoseconds[slot] = 0
            heldCpuCoresAtRaise[slot] = 0
            frame.watchesThrottling[slot] = false
            waitTotal[slot] = 0
            for bucket in 0..<TelemetryFrame.waitBucketCount { waitWindow[slot * TelemetryFrame.waitBucketCount + bucket] = 0 }
        }
        for index in next.slots.indices {
            forecaster.adopt(cpuPrior: next.cpuPriors[index], slot: next.slots[index])
            // A model rebuilt with a new prior must see observations again, even of an idle tenant.
            quietTicks[next.slots[index]] = 0
            settling[next.slots[index]] = .active
            waitObjective[next.slots[index]] = next.specs[index].slo.runQueueWaitP99Nanoseconds ?? .infinity
            capCpuCores[next.slots[index]] = next.specs[index].cap.cpuCores
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
    /// demand (left in `slotDemand[slot]`).
    @inline(__always)
    private func fold(slot: Int, waitScale: Double, elapsedNanoseconds: UInt64, nowNanoseconds: UInt64) {
        let cpu = frame.cpuNanoseconds[slot]
        let ongoingRun = frame.ongoingRunNanoseconds[slot]
        let waitMask = frame.waitBucketMasks[slot]
        let memory = frame.memoryBytes[slot]
        // One test of the frame's measurements for both uses below, so that a new one cannot be left out of either.
        let measuredNothing = cpu == 0 && ongoingRun == 0 && waitMask == 0 && !memory.isFinite
        // A settling slot with nothing new: the fold below would leave everything as it is (see `settling`).
        if settling[slot] != .active, measuredNothing, frame.throttledNanoseconds[slot] == 0, !frame.vanished[slot] {
            settling[slot] = .settled
            return
        }
        // Its demand may move now: the solve triggers are checked again once it has settled.
        quietCheckEpoch[slot] = .max
        views[slot].cpuNanosecondsTotal &+= cpu
        views[slot].usageCpuCores = Double(cpu) / Double(elapsedNanoseconds)
        views[slot].usageCpuCoresAverage += (views[slot].usageCpuCores - views[slot].usageCpuCoresAverage) * 0.01
        // An idle tenant's average decays towards zero without reaching it, into subnormal numbers (slow arithmetic)
        // after about 70 s: below a nanocore it is zero.
        if views[slot].usageCpuCoresAverage < Self.negligibleCpuCores { views[slot].usageCpuCoresAverage = 0 }
        if frame.vanished[slot] { views[slot].vanished = true }
        views[slot].usageMemoryBytes = memory
        var waitP99: Double?
        if frame.measuresRunQueueWait {
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
        let demandCpuCores = max(views[slot].usageCpuCores, foldThrottling(slot: slot, cpuNanoseconds: cpu, elapsedNanoseconds: elapsedNanoseconds, nowNanoseconds: nowNanoseconds))
        frame.clear(slot: slot)
        quietTicks[slot] = measuredNothing && demandCpuCores == 0 ? min(quietTicks[slot], quiescentAfterTicks) &+ 1 : 0
        settling[slot] = .active
        guard quietTicks[slot] <= quiescentAfterTicks else {
            slotDemand[slot].measuredRunQueueWaitP99Nanoseconds = waitP99
            // The next fold with nothing new would change nothing: the watch lapsed, no report stands (demand 0),
            // no wait quantile stands (the window only decays, never back above one wait), the average is zero.
            if waitP99 == nil, !frame.watchesThrottling[slot], views[slot].usageCpuCoresAverage == 0 { settling[slot] = .settling }
            return
        }
        let saturated = foldSaturation(slot: slot, cpuNanoseconds: cpu, ongoingRunNanoseconds: ongoingRun, nowNanoseconds: nowNanoseconds)
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

    /// Keeps the slot's throttle watch and returns the runnable demand its last throttle report showed (cores; 0 when
    /// none stands). A slot without exclusive cores runs under a quota of at least its shared cores (Enforce), so a
    /// tick above them starts or extends the watch; the telemetry reads the throttling from the next drain on.
    @inline(__always)
    private func foldThrottling(slot: Int, cpuNanoseconds: UInt64, elapsedNanoseconds: UInt64, nowNanoseconds: UInt64) -> Double {
        let watching = frame.watchesThrottling[slot]
        if watching {
            cpuNanosecondsSinceThrottleMark[slot] &+= cpuNanoseconds
            let throttled = frame.throttledNanoseconds[slot]
            if throttled > 0, nowNanoseconds > throttleMarkNanoseconds[slot] {
                // The kernel adds throttled time when a run queue is unthrottled (at the period's end, also mid-period
                // from its slack timer), so a report can cover more than the time since the previous one: the span
                // is at least a period. Over that time alone it gave a latency-critical spinner forecasts of up to
                // 35 cores on a 2-CPU host, and a solve at every swing (Benchmarks/agent results, 2026-11-30).
                let span = max(nowNanoseconds - throttleMarkNanoseconds[slot], Self.quotaPeriodNanoseconds)
                runnableCpuCores[slot] = Double(cpuNanosecondsSinceThrottleMark[slot] &+ throttled) / Double(span)
                throttleMarkNanoseconds[slot] = nowNanoseconds
                cpuNanosecondsSinceThrottleMark[slot] = 0
            }
        }
        let quotaLimited = !views[slot].ownsExclusiveCores
        if quotaLimited, views[slot].usageCpuCores > views[slot].sharedCpuCores {
            if !watching {
                // The span starts with this tick's interval, whose CPU time it counts.
                throttleMarkNanoseconds[slot] = nowNanoseconds &- elapsedNanoseconds
                cpuNanosecondsSinceThrottleMark[slot] = cpuNanoseconds
                runnableCpuCores[slot] = 0
            }
            throttleWatchUntilNanoseconds[slot] = nowNanoseconds &+ throttleWatchNanoseconds
        }
        frame.watchesThrottling[slot] = nowNanoseconds < throttleWatchUntilNanoseconds[slot]
        if nowNanoseconds &- throttleMarkNanoseconds[slot] > throttleReportStandsNanoseconds { runnableCpuCores[slot] = 0 }
        return runnableCpuCores[slot]
    }

    /// Keeps the slot's saturation rule (see the type's doc) and returns the CPU demand it raised the slot to (cores; 0
    /// when none stands). A raise waits a period after the previous one, so that the tenant's use under what it
    /// then holds is what the next one judges. The use it judges is the CPU time published in its span plus the
    /// tenant's ongoing runs in that span (`TelemetryFrame.ongoingRunNanoseconds`), which the span's sums never
    /// keep: the records bring that time when the task switches out.
    @inline(__always)
    private func foldSaturation(slot: Int, cpuNanoseconds: UInt64, ongoingRunNanoseconds: UInt64, nowNanoseconds: UInt64) -> Double {
        cpuNanosecondsThisHalfPeriod[slot] &+= cpuNanoseconds
        if heldCpuCores[slot] > heldCpuCoresAtRaise[slot] { heldCpuCoresAtRaise[slot] = -.infinity }
        // A throttle report's runnable demand takes over; an unconfirmed raise lapses like a report.
        if runnableCpuCores[slot] > 0 || nowNanoseconds &- saturatedAtNanoseconds[slot] > saturationStandsNanoseconds {
            saturatedCpuCores[slot] = 0
        }
        // A tenant the loop has not given an allocation yet holds no quota of the loop's.
        let quotaLimited = !views[slot].ownsExclusiveCores && views[slot].lastChangeNanoseconds != 0
        guard quotaLimited, runnableCpuCores[slot] == 0, cpuNanoseconds > 0 || ongoingRunNanoseconds > 0,
              nowNanoseconds >= saturatedAtNanoseconds[slot] &+ Self.quotaPeriodNanoseconds else { return saturatedCpuCores[slot] }
        let quotaMicroseconds = CgroupBackend.quotaMicroseconds(views[slot].sharedCpuCores)
        let used = cpuNanosecondsThisHalfPeriod[slot] &+ cpuNanosecondsLastHalfPeriod[slot] &+ ongoingRunNanoseconds
        guard Double(used) >= saturationShare * Double(quotaMicroseconds) * 1_000 else { return saturatedCpuCores[slot] }
        let quotaCpuCores = Double(quotaMicroseconds) / Double(CgroupBackend.cpuPeriodMicroseconds)
        // A tenant that has used about its quota for a while is not starting anything: in a contended pool its use
        // matches the share the scheduler gives it, quota or not, and its throttled time (if any) speaks for it.
        guard views[slot].usageCpuCoresAverage < onsetShare * quotaCpuCores else { return saturatedCpuCores[slot] }
        let raised = min(capCpuCores[slot], 2 * quotaCpuCores)
        guard raised > heldCpuCores[slot] else { return saturatedCpuCores[slot] }
        let lastRaiseDenied = saturatedAtNanoseconds[slot] != 0 && heldCpuCoresAtRaise[slot] > -.infinity
        guard !lastRaiseDenied || nowNanoseconds &- saturatedAtNanoseconds[slot] >= deniedRaiseRetryNanoseconds else { return saturatedCpuCores[slot] }
        saturatedCpuCores[slot] = raised
        saturatedAtNanoseconds[slot] = nowNanoseconds
        heldCpuCoresAtRaise[slot] = heldCpuCores[slot]
        // The next raise judges the use under the allocation this one brings.
        cpuNanosecondsThisHalfPeriod[slot] = 0
        cpuNanosecondsLastHalfPeriod[slot] = 0
        return raised
    }

    /// The demand the solver sees for a slot: its last forecast with the CPU forecast held at its recent peak.
    @inline(__always)
    private func heldDemand(slot: Int) -> TenantDemand {
        var demand = slotDemand[slot]
        demand.cpuCores = peakPrevious[slot].atQuantile > peakCurrent[slot].atQuantile ? peakPrevious[slot] : peakCurrent[slot]
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

    private func refillSolveTokens(nowNanoseconds: UInt64) {
        let interval = config.solveMinimumIntervalNanoseconds
        let earned = interval == 0 ? solveBurst : Double(nowNanoseconds &- solveTokensAtNanoseconds) / Double(interval)
        solveTokens = min(solveBurst, solveTokens + earned)
        solveTokensAtNanoseconds = nowNanoseconds
    }

    /// Divides the scale out of every slot's wait window (rare: see `waitScaleLimit`).
    private func renormaliseWaitWindow() {
        let inverse = 1 / waitScale
        for index in waitWindow.indices { waitWindow[index] *= inverse }
        for slot in waitTotal.indices { waitTotal[slot] *= inverse }
        waitScale = 1
        // Rounding may bring a window total back to one wait: every slot folds again and settles anew.
        for slot in settling.indices { settling[slot] = .active }
    }

    private func solveAndEnforce(table: TenantTable, cause: SolveRecord.Cause, nowNanoseconds: UInt64) {
        let solveStart = dpm_monotonic_ns()
        lastSolveNanoseconds = nowNanoseconds
        checkEpoch &+= 1
        shrinkHeldUntilNanoseconds = nil
        solveTokens -= 1
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
                for slot in tableSlots where everySlot || settling[slot] != .settled { tenants[slot] = views[slot] }
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
