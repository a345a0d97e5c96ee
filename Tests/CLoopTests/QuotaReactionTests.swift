import Enforce
import Pool
import Testing

@testable import CLoop

/// A CFS bandwidth simulator standing in for the kernel: each tenant wants `demandCores` and gets, per tick, what
/// its quota's budget for the current period (Enforce's period, the kernel's 1 ms floor) still allows; throttled
/// time is reported, as the kernel does, when the period ends (the whole period's throttled time at once).
private final class QuotaTelemetry: TelemetrySource, @unchecked Sendable {
    let sourceName = "simulated-cfs"
    let periodNanoseconds = UInt64(CgroupBackend.cpuPeriodMicroseconds) * 1_000
    /// Publishes a tenant's CPU time as the BPF telemetry does: when its task switches out. A tenant that wants a
    /// whole core (a spinner) switches out only when throttled; one that wants less sleeps, so every tick.
    var publishesAtSwitchOut = false
    /// Throttles as this kernel does (HZ=250, no HRTICK): a tenant past its quota runs on until the next scheduler
    /// tick, every this many nanoseconds of the clock, finds it out of budget; it switches out then, or when it
    /// stops wanting CPU, and only then is its run published. nil: throttled the moment its quota runs out.
    var schedulerTickNanoseconds: UInt64?
    /// Shows a tenant's run that no switch-out published yet (`TelemetryFrame.ongoingRunNanoseconds`), as the BPF
    /// telemetry does from what each CPU runs now (only with `schedulerTickNanoseconds`).
    var showsRunningTasks = false
    private var throttled: Set<Int> = []
    var demandCores: [Int: Double] = [:]
    var quotaCores: [Int: Double] = [:]
    /// Throttled time reported at the next drain besides the period's own (an unthrottle by the kernel's slack timer,
    /// shortly after a period's report).
    var extraThrottledNanoseconds: [Int: UInt64] = [:]
    private var spent: [Int: UInt64] = [:]
    private var unpublished: [Int: UInt64] = [:]
    private var throttledInPeriod: [Int: UInt64] = [:]
    private var periodStart: UInt64 = 0
    func attach(slot: Int, cgroupPath: String) throws {}
    func detach(slot: Int) {}
    func drain(into frame: TelemetryFrame, nowNanoseconds: UInt64) {
        let tick: UInt64 = 1_000_000
        let periodEnded = nowNanoseconds - periodStart >= periodNanoseconds
        if periodEnded { periodStart = nowNanoseconds }
        for (slot, demand) in demandCores {
            let quota = quotaCores[slot] ?? .infinity
            let budget = quota.isFinite ? UInt64(CgroupBackend.quotaMicroseconds(quota)) * 1_000 : .max
            let wanted = UInt64(demand * Double(tick))
            if let schedulerTick = schedulerTickNanoseconds {
                let ran = throttled.contains(slot) ? 0 : wanted
                spent[slot, default: 0] += ran
                throttledInPeriod[slot, default: 0] += wanted - ran
                if spent[slot, default: 0] >= budget, nowNanoseconds % schedulerTick == 0 { throttled.insert(slot) }
                unpublished[slot, default: 0] += ran
                if throttled.contains(slot) || demand == 0 {
                    frame.cpuNanoseconds[slot] = unpublished[slot, default: 0]
                    unpublished[slot] = 0
                } else if showsRunningTasks {
                    frame.ongoingRunNanoseconds[slot] = min(unpublished[slot, default: 0], nowNanoseconds - frame.ongoingRunsSinceNanoseconds)
                }
                if periodEnded {
                    throttledInPeriod[slot] = 0
                    spent[slot] = 0
                    throttled.remove(slot)
                }
                continue
            }
            let ran = min(wanted, budget - min(spent[slot, default: 0], budget))
            spent[slot, default: 0] += ran
            throttledInPeriod[slot, default: 0] += wanted - ran
            if publishesAtSwitchOut {
                unpublished[slot, default: 0] += ran
                if spent[slot, default: 0] >= budget || demand < 1 {
                    frame.cpuNanoseconds[slot] = unpublished[slot, default: 0]
                    unpublished[slot] = 0
                }
            } else {
                frame.cpuNanoseconds[slot] = ran
            }
            if let extra = extraThrottledNanoseconds.removeValue(forKey: slot), frame.watchesThrottling[slot] { frame.throttledNanoseconds[slot] = extra }
            if periodEnded {
                if frame.watchesThrottling[slot] { frame.throttledNanoseconds[slot] = throttledInPeriod[slot, default: 0] }
                throttledInPeriod[slot] = 0
                spent[slot] = 0
            }
        }
    }
    func close() {}
}

private final class QuotaEnforcer: AllocationEnforcing, @unchecked Sendable {
    let telemetry: QuotaTelemetry
    let slots: [String: Int]
    var applied: [(atNanoseconds: UInt64, allocation: Allocation)] = []
    var now: UInt64 = 0
    init(telemetry: QuotaTelemetry, slots: [String: Int]) {
        self.telemetry = telemetry
        self.slots = slots
    }
    func start(specs: [TenantSpec]) throws -> [String] { [] }
    func apply(_ allocation: Allocation, specs: [TenantSpec], host: HostCapacity) throws -> Int {
        applied.append((now, allocation))
        for (name, given) in allocation.tenants {
            guard let slot = slots[name] else { continue }
            telemetry.quotaCores[slot] = given.exclusiveCoreIDs.isEmpty ? given.sharedCpuCores : .infinity
        }
        return allocation.tenants.count
    }
    func restore() throws -> [String] { [] }
}

/// Forecasts a fixed CPU demand whatever it sees (so the plan keeps the quota where it is) and records the CPU
/// usage the loop fed it.
private final class FixedForecaster: DemandForecaster, @unchecked Sendable {
    let cpuCores: Double
    var observedCpuCores: [Int: [Double]] = [:]
    init(cpuCores: Double) { self.cpuCores = cpuCores }
    func prepare(slot: Int, spec: TenantSpec, cpuPrior: SeasonalPrior?) {}
    func adopt(cpuPrior: SeasonalPrior?, slot: Int) {}
    func observe(slot: Int, usage: ResourceVector, runQueueWaitP99Nanoseconds: Double?, nowNanoseconds: UInt64) -> TenantDemand {
        observedCpuCores[slot, default: []].append(usage.cpuCores)
        return TenantDemand(cpuCores: Forecast(expected: cpuCores, atQuantile: cpuCores, confidence: 1))
    }
}

/// A plan that gives every tenant its forecast as quota, at most `mostCpuCores` (a full pool).
private final class ForecastQuotaPlan: SolvePlan, AllocationSolving, @unchecked Sendable {
    var specs: [TenantSpec] = []
    var mostCpuCores = Double.infinity
    func plan(host: HostCapacity, specs: [TenantSpec], current: Allocation) throws -> any SolvePlan {
        self.specs = specs
        return self
    }
    func solve(demands: [TenantDemand], present: [Bool], into allocations: inout [TenantAllocation]) throws -> Int {
        for index in specs.indices { allocations[index] = TenantAllocation(sharedCpuCores: present[index] ? min(demands[index].cpuCores.expected, mostCpuCores) : 0) }
        return 0
    }
    func cpuDemandFactor(index: Int) -> Double { 1 }
    func explain(names: [String]) -> [String: TenantRationale] { [:] }
}

/// A burstable tenant held by its CFS quota: its usage cannot rise above the quota, so the loop must see its demand
/// in its throttling; and a tenant that starts spinning must get a larger quota within a few ticks.
@Suite struct QuotaReactionTests {
    let host = HostCapacity(cores: (0..<2).map { Core(id: $0) }, memoryBytesPerNode: [8e9], housekeepingCoreIDs: [0])
    let specs = [TenantSpec(name: "t01", cgroupPath: "t01", tenantClass: .burstable, guaranteed: ResourceVector(cpuCores: 0.1), cap: ResourceVector(cpuCores: 1)),
                 TenantSpec(name: "be", cgroupPath: "be", tenantClass: .bestEffort)]

    /// A loop whose forecaster says 0.1 core whatever it sees, so t01's quota stays at 0.1 core (also its cap, so the
    /// saturation rule cannot raise it) while it wants a whole core.
    private func spinnerHeldAtItsQuota(
        capCpuCores: Double = 0.1, forecastCpuCores: Double = 0.1, poolCpuCores: Double = .infinity
    ) throws -> (QuotaTelemetry, QuotaEnforcer, FixedForecaster, ControlLoop) {
        let telemetry = QuotaTelemetry()
        let enforcer = QuotaEnforcer(telemetry: telemetry, slots: ["t01": 0, "be": 1])
        let forecaster = FixedForecaster(cpuCores: forecastCpuCores)
        var config = AgentConfig()
        config.solveMinimumIntervalNanoseconds = 0
        let loop = ControlLoop(config: config, capacity: 4, telemetry: telemetry, forecaster: forecaster, enforcer: enforcer)
        var specs = specs
        specs[0].cap = ResourceVector(cpuCores: capCpuCores)
        let solver = ForecastQuotaPlan()
        solver.mostCpuCores = poolCpuCores
        let plan = try solver.plan(host: host, specs: specs, current: Allocation())
        loop.tables.publish(TenantTable(generation: 1, host: host, specs: specs, slots: [0, 1], plan: plan))
        telemetry.demandCores = [0: 1]
        return (telemetry, enforcer, forecaster, loop)
    }

    /// The quota stays at 0.1 core (the forecaster says 0.1 whatever it sees); the tenant wants a whole core. Its
    /// usage is 1 core for the first 1 ms of each 10 ms period and 0 after; once the first period's throttling is
    /// reported, the loop feeds the forecaster the runnable demand (usage plus throttled time over the same span),
    /// about 1 core on every tick, also on the ticks the tenant sat throttled with no usage at all.
    @Test func aThrottledTenantsDemandRisesAboveItsQuota() throws {
        let (telemetry, enforcer, forecaster, loop) = try spinnerHeldAtItsQuota()
        for tick in 1...450 {
            enforcer.now = UInt64(tick) * 1_000_000
            loop.tick(nowNanoseconds: enforcer.now)
        }
        #expect(telemetry.quotaCores[0] == 0.1, "the quota never moved")
        let observed = forecaster.observedCpuCores[0] ?? []
        #expect(observed.count == 450)
        // Before the first period ended the throttling was not known: the throttled ticks showed no usage.
        #expect(observed[5] == 0)
        // After it, every tick shows about a core (the first span is from the first tick to the period's end).
        let afterReport = observed[11...]
        #expect(afterReport.allSatisfy { $0 > 0.9 && $0 <= 1.0 + 1e-9 }, "\(afterReport.min() ?? -1)…\(afterReport.max() ?? -1)")
        // A tenant that stops spinning stops showing the demand once the last report has stood its time.
        telemetry.demandCores = [0: 0]
        for tick in 451...800 {
            enforcer.now = UInt64(tick) * 1_000_000
            loop.tick(nowNanoseconds: enforcer.now)
        }
        #expect(forecaster.observedCpuCores[0]?.last == 0)
    }

    /// A report that comes shortly after the previous one (the kernel's slack timer unthrottled the tenant mid-period)
    /// counts over a whole period, not over the few milliseconds since that report: the demand stays about a core.
    /// Over those milliseconds alone half a period of throttling 2 ms after a report read as 2.5 cores.
    @Test func aThrottleReportShortlyAfterThePreviousOneDoesNotInflateTheDemand() throws {
        let (telemetry, enforcer, forecaster, loop) = try spinnerHeldAtItsQuota()
        for tick in 1...300 {
            if tick == 202 { telemetry.extraThrottledNanoseconds[0] = telemetry.periodNanoseconds / 2 }
            enforcer.now = UInt64(tick) * 1_000_000
            loop.tick(nowNanoseconds: enforcer.now)
        }
        let observed = forecaster.observedCpuCores[0] ?? []
        #expect(observed.count == 300)
        let afterReports = observed[11...]
        #expect(afterReports.allSatisfy { $0 <= 1.0 + 1e-9 }, "largest demand fed to the forecaster: \(afterReports.max() ?? -1) cores")
    }

    /// A loop with Predict and Solve whose tenant t01 idled (at `idleCores`) for 3 s next to a best-effort spinner,
    /// so it sits at its 0.1-core guarantee; returns it and the time of its last tick.
    private func idleAtItsGuaranteeWithPredictAndSolve(
        idleCores: Double, publishesAtSwitchOut: Bool = false, schedulerTickNanoseconds: UInt64? = nil, showsRunningTasks: Bool = false
    ) throws -> (QuotaTelemetry, QuotaEnforcer, ControlLoop, UInt64) {
        let telemetry = QuotaTelemetry()
        telemetry.publishesAtSwitchOut = publishesAtSwitchOut
        telemetry.schedulerTickNanoseconds = schedulerTickNanoseconds
        telemetry.showsRunningTasks = showsRunningTasks
        let enforcer = QuotaEnforcer(telemetry: telemetry, slots: ["t01": 0, "be": 1])
        let forecaster = PredictForecaster(tickNanoseconds: 1_000_000, capacity: 4)
        for (slot, spec) in specs.enumerated() { forecaster.prepare(slot: slot, spec: spec, cpuPrior: nil) }
        let loop = ControlLoop(config: AgentConfig(), capacity: 4, telemetry: telemetry, forecaster: forecaster, enforcer: enforcer)
        let plan = try SolvePlanner(manageMemory: false).plan(host: host, specs: specs, current: Allocation())
        loop.tables.publish(TenantTable(generation: 1, host: host, specs: specs, slots: [0, 1], plan: plan))
        telemetry.demandCores = [0: idleCores, 1: 1]
        var now: UInt64 = 0
        for _ in 0..<3000 {
            now += 1_000_000
            enforcer.now = now
            loop.tick(nowNanoseconds: now)
        }
        return (telemetry, enforcer, loop, now)
    }

    /// With Predict and Solve: the tenant idles at its 0.1-core guarantee, then spins. It spends its 1 ms quota on
    /// the first tick, so the saturation rule raises it at once; the period's throttle report then shows its
    /// runnable demand of a core, which Predict follows, and it holds more than half a core within a few periods.
    @Test func aBurstableTenantThatStartsSpinningGetsALargerQuotaAtOnceAndMostOfACoreWithinAFewPeriods() throws {
        var (telemetry, enforcer, loop, now) = try idleAtItsGuaranteeWithPredictAndSolve(idleCores: 0.001)
        #expect(telemetry.quotaCores[0] == 0.1, "idle at its guarantee")
        let spinStart = now
        telemetry.demandCores[0] = 1
        var quotas: [Double] = []
        for _ in 0..<40 {
            now += 1_000_000
            enforcer.now = now
            loop.tick(nowNanoseconds: now)
            quotas.append(telemetry.quotaCores[0] ?? -1)
        }
        let larger = quotas.firstIndex { $0 > 0.1 + 1e-9 }.map { $0 + 1 }
        let mostOfACore = quotas.firstIndex { $0 > 0.5 }.map { $0 + 1 }
        #expect(enforcer.applied.contains { $0.atNanoseconds > spinStart })
        #expect((larger ?? 99) <= 2, "quotas by tick: \(quotas)")
        #expect((mostOfACore ?? 99) <= 30, "quotas by tick: \(quotas)")
    }

    /// Ticks the loop 1 ms apart until an allocation larger than t01's 0.1-core guarantee is applied (at most 50
    /// ticks); returns how many ticks that took.
    private func ticksUntilLargerThanItsGuarantee(_ enforcer: QuotaEnforcer, _ loop: ControlLoop, now: inout UInt64) -> Int {
        let start = now
        var ticks = 0
        func grown() -> Bool { enforcer.applied.contains { $0.atNanoseconds > start && ($0.allocation.tenants["t01"]?.cpuCores ?? 0) > 0.1 + 1e-9 } }
        while ticks < 50, !grown() {
            now += 1_000_000
            enforcer.now = now
            loop.tick(nowNanoseconds: now)
            ticks += 1
        }
        return ticks
    }

    /// Once a spinner's usage shows a full core in the tick it starts (the telemetry publishing a running task's CPU
    /// time every millisecond), a larger allocation is applied within two ticks, also for a tenant idle long enough
    /// to be quiescent. Predict alone would take four (its level follows at its 0.05 rate until its change detector
    /// re-anchors on the fourth value), and at Enforce's 10 ms period the tenant's 1 ms quota shows only one tick at
    /// a full core: the saturation rule is what answers (without it: 12 ticks, the period's throttle report).
    @Test func usageJumpingFromNoCoreToOneGetsALargerAllocationWithinTwoTicks() throws {
        var (telemetry, enforcer, loop, now) = try idleAtItsGuaranteeWithPredictAndSolve(idleCores: 0)
        #expect(telemetry.quotaCores[0] == 0.1, "idle at its guarantee")
        telemetry.demandCores[0] = 1
        let ticks = ticksUntilLargerThanItsGuarantee(enforcer, loop, now: &now)
        #expect(ticks <= 2, "ticks until a larger allocation was applied: \(ticks) (50: none)")
    }

    /// What the agent sees of a real spinner: its CPU time only when it switches out, here when its quota throttles
    /// it. Held at its 0.1-core guarantee (1 ms per 10 ms period), it spends its whole quota within one period and
    /// the loop applies a larger allocation by the next tick, without waiting for the period's throttle report or
    /// for Predict to re-anchor (on the old loop: the 1 ms lump came a period apart, and no allocation grew for 50
    /// ticks at a 100 ms period).
    @Test func aTenantSpendingItsWholeQuotaInOnePeriodGetsALargerAllocationByTheNextTick() throws {
        var (telemetry, enforcer, loop, now) = try idleAtItsGuaranteeWithPredictAndSolve(idleCores: 0, publishesAtSwitchOut: true)
        #expect(telemetry.quotaCores[0] == 0.1, "idle at its guarantee")
        telemetry.demandCores[0] = 1
        let ticks = ticksUntilLargerThanItsGuarantee(enforcer, loop, now: &now)
        // The spinner's first 1 ms is published on the tick it is throttled (tick 1 here); the larger quota by tick 2.
        #expect(ticks <= 2, "ticks until a larger allocation was applied: \(ticks) (50: none)")
        let raise = loop.history.recent().first { if case .quotaSaturated = $0.cause { true } else { false } }
        #expect(raise != nil, "no solve caused by the saturated quota")
        #expect(loop.snapshot.read(slots: []).loop.solvesByCause.quotaSaturated >= 1)
    }

    /// A spinner on this kernel: its 1 ms quota runs out 1 ms after it starts, but the throttle (its switch-out, and
    /// with it the publication of its run) waits for the next 4 ms scheduler tick, here 4 ms after it started. Seeing
    /// the ongoing run, the loop applies a larger allocation on the first tick, with nothing published yet; without
    /// it, on the tick the throttle published the run (the fourth), as the agent did before.
    @Test(arguments: [true, false])
    func aTenantRunningPastItsQuotaWithNothingPublishedGetsALargerAllocationOnThatTick(showsRunningTasks: Bool) throws {
        var (telemetry, enforcer, loop, now) = try idleAtItsGuaranteeWithPredictAndSolve(
            idleCores: 0, publishesAtSwitchOut: true, schedulerTickNanoseconds: 4_000_000, showsRunningTasks: showsRunningTasks)
        #expect(telemetry.quotaCores[0] == 0.1, "idle at its guarantee")
        #expect(now % 4_000_000 == 0, "the spinner starts right after a scheduler tick")
        telemetry.demandCores[0] = 1
        let ticks = ticksUntilLargerThanItsGuarantee(enforcer, loop, now: &now)
        #expect(ticks == (showsRunningTasks ? 1 : 4), "ticks until a larger allocation was applied: \(ticks) (50: none)")
        #expect(loop.history.recent().contains { if case .quotaSaturated = $0.cause { true } else { false } })
    }

    /// A task that runs for less than its quota and is still on its CPU at the tick (0.5 ms, then 0.9 ms), then sleeps
    /// (its 0.9 ms published), every 100 ms (rare enough for its average to stay under the onset share): its ongoing run never reaches the quota and is not counted again once
    /// published, so it is never raised (counting the run seen on one tick again on the next, or again when published,
    /// would reach 1.4 ms).
    @Test func aTenantRunningLessThanItsQuotaIsNotRaised() throws {
        var (telemetry, enforcer, loop, now) = try idleAtItsGuaranteeWithPredictAndSolve(
            idleCores: 0, publishesAtSwitchOut: true, schedulerTickNanoseconds: 4_000_000, showsRunningTasks: true)
        #expect(telemetry.quotaCores[0] == 0.1, "idle at its guarantee")
        let start = now
        let raisedBefore = loop.snapshot.read(slots: []).loop.solvesByCause.quotaSaturated
        for tick in 0..<2000 {
            telemetry.demandCores[0] = [3: 0.5, 4: 0.4][tick % 100] ?? 0
            now += 1_000_000
            enforcer.now = now
            loop.tick(nowNanoseconds: now)
        }
        #expect(loop.snapshot.read(slots: []).loop.solvesByCause.quotaSaturated == raisedBefore, "\(loop.history.recent().map { "\(Int64(bitPattern: $0.atNanoseconds &- start) / 1_000_000) ms: \($0.cause)" })")
        let grown = enforcer.applied.first { $0.atNanoseconds > start && ($0.allocation.tenants["t01"]?.cpuCores ?? 0) > 0.1 + 1e-9 }
        #expect(grown == nil, "allocation raised to \(grown?.allocation.tenants["t01"]?.cpuCores ?? -1) cores")
    }

    /// A bursty tenant that uses part of its quota (0.6 ms of its 1 ms, once a period, published as it sleeps) is
    /// never raised: no solve for a saturated quota, and its allocation stays at its guarantee.
    @Test func aBurstyTenantUsingLessThanItsQuotaIsNotRaised() throws {
        var (telemetry, enforcer, loop, now) = try idleAtItsGuaranteeWithPredictAndSolve(idleCores: 0, publishesAtSwitchOut: true)
        #expect(telemetry.quotaCores[0] == 0.1, "idle at its guarantee")
        let burstStart = now
        for tick in 0..<2000 {
            telemetry.demandCores[0] = tick % 10 == 3 ? 0.6 : 0
            now += 1_000_000
            enforcer.now = now
            loop.tick(nowNanoseconds: now)
        }
        #expect(loop.snapshot.read(slots: []).loop.solvesByCause.quotaSaturated == 0)
        let grown = enforcer.applied.first { $0.atNanoseconds > burstStart && ($0.allocation.tenants["t01"]?.cpuCores ?? 0) > 0.1 + 1e-9 }
        #expect(grown == nil, "allocation raised to \(grown?.allocation.tenants["t01"]?.cpuCores ?? -1) cores")
    }

    /// A tenant that has used its whole quota for a while without being throttled (in a contended pool the scheduler
    /// gives it about the share its quota holds) is not starting anything: it is not raised. Without the onset guard
    /// it was raised to 0.2 core every time its quota came back to 0.1 (a solve every few hundred ticks).
    @Test func aTenantSteadilyUsingItsQuotaIsNotRaised() throws {
        let (telemetry, enforcer, _, loop) = try spinnerHeldAtItsQuota(capCpuCores: 1)
        telemetry.demandCores = [0: 0.1]
        for tick in 1...3000 {
            enforcer.now = UInt64(tick) * 1_000_000
            loop.tick(nowNanoseconds: enforcer.now)
        }
        let early = loop.snapshot.read(slots: []).loop.solvesByCause.quotaSaturated
        for tick in 3001...6000 {
            enforcer.now = UInt64(tick) * 1_000_000
            loop.tick(nowNanoseconds: enforcer.now)
        }
        #expect(loop.snapshot.read(slots: []).loop.solvesByCause.quotaSaturated == early, "raised \(loop.snapshot.read(slots: []).loop.solvesByCause.quotaSaturated - early) times after its first 3 s")
        #expect(telemetry.quotaCores[0] == 0.1)
    }

    /// A tenant time-sliced in a full pool runs in lumps of a few milliseconds, each a whole quota, while its average
    /// stays under half of it: it is raised, but the solver has nothing to give, and a raise that did not grow its
    /// allocation is not repeated for ten seconds. Here the lumps come 150 ms apart, after the raised demand has left
    /// the shrink hold and its fall was solved (without the retry time: a raise at every lump).
    @Test func aRaiseTheSolverCouldNotGrantIsNotRepeatedAtEveryLump() throws {
        let (telemetry, enforcer, _, loop) = try spinnerHeldAtItsQuota(capCpuCores: 1, forecastCpuCores: 0.3, poolCpuCores: 0.3)
        for tick in 1...3000 {
            telemetry.demandCores = [0: tick % 150 < 3 ? 1 : 0]
            enforcer.now = UInt64(tick) * 1_000_000
            loop.tick(nowNanoseconds: enforcer.now)
        }
        #expect(telemetry.quotaCores[0] == 0.3)
        let raises = loop.snapshot.read(slots: []).loop.solvesByCause.quotaSaturated
        #expect(raises == 1, "raised \(raises) times in 3 s")
    }
}
