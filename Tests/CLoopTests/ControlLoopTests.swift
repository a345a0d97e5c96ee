import Pool
import Testing

@testable import CLoop

/// Test doubles playing the modules: telemetry that reports what the test sets, a forecaster that forecasts the
/// last observation, a plan that gives each present tenant its forecast as quota, an enforcer that records.
private final class ScriptedTelemetry: TelemetrySource, @unchecked Sendable {
    let sourceName = "scripted"
    var cpuNanosecondsPerTick: [Int: UInt64] = [:]
    var waitBucketPerTick: [Int: Int] = [:]
    var vanishedSlots: Set<Int> = []
    func attach(slot: Int, cgroupPath: String) throws {}
    func detach(slot: Int) {}
    func drain(into frame: TelemetryFrame, nowNanoseconds: UInt64) {
        frame.measuresRunQueueWait = true
        for (slot, nanoseconds) in cpuNanosecondsPerTick { frame.cpuNanoseconds[slot] = nanoseconds }
        for (slot, bucket) in waitBucketPerTick { frame.setWaits(10, slot: slot, bucket: bucket) }
        for slot in vanishedSlots { frame.vanished[slot] = true }
    }
    func close() {}
}

private final class LastValueForecaster: DemandForecaster, @unchecked Sendable {
    /// Observations fed, per slot.
    var observations: [Int: Int] = [:]
    /// The forecast at quantile as a multiple of the expected (the last observation).
    var quantileFactor = 1.0
    func prepare(slot: Int, spec: TenantSpec, cpuPrior: SeasonalPrior?) {}
    func adopt(cpuPrior: SeasonalPrior?, slot: Int) {}
    func observe(slot: Int, usage: ResourceVector, runQueueWaitP99Nanoseconds: Double?, nowNanoseconds: UInt64) -> TenantDemand {
        observations[slot, default: 0] += 1
        return TenantDemand(cpuCores: Forecast(expected: usage.cpuCores, atQuantile: usage.cpuCores * quantileFactor, confidence: 1), measuredRunQueueWaitP99Nanoseconds: runQueueWaitP99Nanoseconds)
    }
}

private final class QuotaPlan: SolvePlan, AllocationSolving, @unchecked Sendable {
    var specs: [TenantSpec] = []
    var solves = 0
    /// Most CPU any tenant gets (a cap or a full pool), so a tenant can want more than it is given.
    var mostCpuCores = Double.infinity
    /// The factor a latency-critical tenant's CPU forecast is sized by (Solve: 1 / 0.7).
    var latencySizing = 1.0
    /// An exclusive core for the latency-critical tenants (nil: all on the shared pool).
    var latencyCriticalCore: Int?
    func cpuDemandFactor(index: Int) -> Double { specs[index].tenantClass == .latencyCritical ? latencySizing : 1 }
    func plan(host: HostCapacity, specs: [TenantSpec], current: Allocation) throws -> any SolvePlan {
        self.specs = specs
        return self
    }
    func solve(demands: [TenantDemand], present: [Bool], into allocations: inout [TenantAllocation]) throws -> Int {
        solves += 1
        for index in specs.indices {
            if let core = latencyCriticalCore, specs[index].tenantClass == .latencyCritical, present[index] {
                allocations[index] = TenantAllocation(exclusiveCoreIDs: [core])
                continue
            }
            allocations[index] = TenantAllocation(sharedCpuCores: present[index] ? min(demands[index].cpuCores.atQuantile, mostCpuCores) : 0)
        }
        return 3
    }
    func explain(names: [String]) -> [String: TenantRationale] {
        Dictionary(uniqueKeysWithValues: names.map { ($0, TenantRationale(bindingConstraints: ["demand"])) })
    }
}

private final class RecordingEnforcer: AllocationEnforcing, @unchecked Sendable {
    var applied: [Allocation] = []
    func start(specs: [TenantSpec]) throws -> [String] { [] }
    func apply(_ allocation: Allocation, specs: [TenantSpec], host: HostCapacity) throws -> Int {
        applied.append(allocation)
        return allocation.tenants.count
    }
    func restore() throws -> [String] { [] }
}

@Suite struct ControlLoopTests {
    let host = HostCapacity(cores: (0..<2).map { Core(id: $0) }, memoryBytesPerNode: [8e9], housekeepingCoreIDs: [0])
    let specs = [TenantSpec(name: "lc", cgroupPath: "t/lc", tenantClass: .latencyCritical, slo: .init(runQueueWaitP99Nanoseconds: 200_000)),
                 TenantSpec(name: "be", cgroupPath: "t/be", tenantClass: .bestEffort)]

    private func makeLoop(
        _ telemetry: ScriptedTelemetry, _ solver: QuotaPlan, _ enforcer: RecordingEnforcer, shrinkHoldNanoseconds: UInt64 = 0,
        forecaster: LastValueForecaster = LastValueForecaster(), specs: [TenantSpec]? = nil
    ) throws -> ControlLoop {
        let specs = specs ?? self.specs
        var config = AgentConfig()
        config.hysteresis.shrinkHoldNanoseconds = shrinkHoldNanoseconds
        config.solveMinimumIntervalNanoseconds = 0
        let loop = ControlLoop(config: config, capacity: 8, telemetry: telemetry, forecaster: forecaster, enforcer: enforcer)
        loop.tables.publish(TenantTable(generation: 1, host: host, specs: specs, slots: [3, 5], plan: try solver.plan(host: host, specs: specs, current: Allocation())))
        return loop
    }

    @Test func aTenantThatStartsSpinningGetsANewAllocationOnTheSameTick() throws {
        let telemetry = ScriptedTelemetry(), solver = QuotaPlan(), enforcer = RecordingEnforcer()
        let loop = try makeLoop(telemetry, solver, enforcer)
        telemetry.cpuNanosecondsPerTick = [3: 100_000, 5: 100_000]
        for tick in 1...3 { loop.tick(nowNanoseconds: UInt64(tick) * 1_000_000) }
        #expect(solver.solves == 1, "the table change solves once; steady forecasts do not")
        telemetry.cpuNanosecondsPerTick[5] = 1_000_000
        loop.tick(nowNanoseconds: 4_000_000)
        #expect(solver.solves == 2)
        #expect(enforcer.applied.last?.tenants["be"]?.sharedCpuCores == 1)
        let read = loop.snapshot.read(slots: [3, 5])
        #expect(read.loop.ticks == 4)
        #expect(read.tenants[1].sharedCpuCores == 1)
        #expect(read.tenants[1].lastChangeNanoseconds == 4_000_000)
        #expect(read.loop.solvesByCause.tableChanged == 1 && read.loop.solvesByCause.forecastMoved == 1, "\(read.loop.solvesByCause)")
        #expect(read.loop.solvesChangingAllocation == 2)
        #expect(loop.history.recent().first?.reason.contains("forecast of be moved") == true)
        #expect(loop.history.recent().first?.outcome?.explanations["be"]?.bindingConstraints == ["demand"])
    }

    /// Runs `ticks` ticks 1 ms apart after `now`, advancing it.
    private func run(_ loop: ControlLoop, _ ticks: Int, from now: inout UInt64) {
        for _ in 0..<ticks {
            now += 1_000_000
            loop.tick(nowNanoseconds: now)
        }
    }

    /// A tenant that wants more than it can get (its demand above what it holds at the last solve and still) keeps its
    /// allocation whatever its forecast does above it, so its forecast's swings and its missed objective solve
    /// nothing; a fall to what it holds solves on the tick the held demand shows it. (Its cap is what it holds, so
    /// the saturation rule, which would raise a tenant using more than its quota, has nothing to raise it to.)
    @Test func aTenantWhoseDemandStaysAboveWhatItHoldsIsNotResolvedUntilItFallsToIt() throws {
        let telemetry = ScriptedTelemetry(), solver = QuotaPlan(), enforcer = RecordingEnforcer()
        solver.mostCpuCores = 0.2
        var specs = specs
        specs[0].cap = ResourceVector(cpuCores: 0.2)
        let loop = try makeLoop(telemetry, solver, enforcer, specs: specs)
        var now: UInt64 = 0
        telemetry.cpuNanosecondsPerTick = [3: 1_000_000, 5: 100_000]
        run(loop, 3, from: &now)
        #expect(solver.solves == 1)
        #expect(enforcer.applied.last?.tenants["lc"]?.sharedCpuCores == 0.2)
        // 1 → 3 → 0.8 cores, and run-queue waits of ~524 µs against its 200 µs objective: it still wants more than 0.2.
        telemetry.cpuNanosecondsPerTick[3] = 3_000_000
        run(loop, 3, from: &now)
        telemetry.cpuNanosecondsPerTick[3] = 800_000
        telemetry.waitBucketPerTick = [3: 19]
        run(loop, 3, from: &now)
        #expect(loop.snapshot.read(slots: [3]).tenants[0].sloViolationTicks > 0)
        #expect(solver.solves == 1, "swings above what it holds solved \(solver.solves - 1) times")
        telemetry.waitBucketPerTick = [:]
        telemetry.cpuNanosecondsPerTick[3] = 100_000
        // The held demand is the higher of this tick's and the previous tick's forecast (a zero shrink hold).
        run(loop, 1, from: &now)
        #expect(solver.solves == 1)
        run(loop, 1, from: &now)
        #expect(solver.solves == 2)
        #expect(enforcer.applied.last?.tenants["lc"]?.sharedCpuCores == 0.1)
        let counts = loop.snapshot.read(slots: []).loop
        // Its wait window still holds the long waits: once it no longer wants more than it holds, the missed objective
        // is what solves (checked before a moved forecast).
        #expect(counts.solvesByCause.tableChanged == 1 && counts.solvesByCause.objectiveMissed == 1 && counts.solvesByCause.forecastMoved == 0, "\(counts.solvesByCause)")
        #expect(counts.solvesChangingAllocation == 2)
        #expect(loop.snapshot.read(slots: [3]).tenants[0].solvesTriggered == 1)
    }

    /// A latency-critical tenant that holds a core and uses it is sized above the core (for 70% utilisation), so
    /// its forecast wandering above what it holds solves nothing; a fall below 70% of the core solves.
    @Test func aLatencyCriticalTenantSizedAboveWhatItHoldsIsNotResolvedWhileItStaysThere() throws {
        let telemetry = ScriptedTelemetry(), solver = QuotaPlan(), enforcer = RecordingEnforcer()
        solver.mostCpuCores = 1
        solver.latencySizing = 1 / 0.7
        let loop = try makeLoop(telemetry, solver, enforcer)
        var now: UInt64 = 0
        telemetry.cpuNanosecondsPerTick = [3: 1_000_000, 5: 100_000]
        run(loop, 3, from: &now)
        #expect(enforcer.applied.last?.tenants["lc"]?.sharedCpuCores == 1)
        // 1 → 1.3 → 0.9 cores: sized by 1/0.7, always above the core it holds (unsized, 1.0 was not).
        telemetry.cpuNanosecondsPerTick[3] = 1_300_000
        run(loop, 3, from: &now)
        telemetry.cpuNanosecondsPerTick[3] = 900_000
        run(loop, 3, from: &now)
        #expect(solver.solves == 1, "wandering above what it holds solved \(solver.solves - 1) times")
        telemetry.cpuNanosecondsPerTick[3] = 500_000
        run(loop, 2, from: &now)
        #expect(solver.solves == 2)
        #expect(enforcer.applied.last?.tenants["lc"]?.sharedCpuCores == 0.5)
    }

    /// A latency-critical tenant on its own core whose demand at quantile, sized, stays above the core wishes for more
    /// cores than it holds whatever its expected demand does, so its wander solves nothing; a fall solves.
    @Test func aTenantOnItsOwnCoreWishingForMoreIsNotResolvedWhileItStaysThere() throws {
        let telemetry = ScriptedTelemetry(), solver = QuotaPlan(), enforcer = RecordingEnforcer(), forecaster = LastValueForecaster()
        solver.latencySizing = 1 / 0.7
        solver.latencyCriticalCore = 1
        forecaster.quantileFactor = 1.2
        let loop = try makeLoop(telemetry, solver, enforcer, forecaster: forecaster)
        var now: UInt64 = 0
        telemetry.cpuNanosecondsPerTick = [3: 700_000, 5: 100_000]
        run(loop, 3, from: &now)
        #expect(enforcer.applied.last?.tenants["lc"]?.exclusiveCoreIDs == [1])
        // 0.7 → 0.9 cores expected (sized 1.0 → 1.29), at quantile 0.84 → 1.08 (sized 1.2 → 1.54): above its core.
        telemetry.cpuNanosecondsPerTick[3] = 900_000
        run(loop, 3, from: &now)
        #expect(solver.solves == 1, "wander on its own core solved \(solver.solves - 1) times")
        telemetry.cpuNanosecondsPerTick[3] = 300_000
        run(loop, 2, from: &now)
        #expect(solver.solves == 2)
    }

    @Test func runQueueWaitAboveTheObjectiveIsCountedAndTriggersASolve() throws {
        let telemetry = ScriptedTelemetry(), solver = QuotaPlan(), enforcer = RecordingEnforcer()
        let loop = try makeLoop(telemetry, solver, enforcer)
        telemetry.cpuNanosecondsPerTick = [3: 100_000]
        loop.tick(nowNanoseconds: 1_000_000)
        loop.tick(nowNanoseconds: 2_000_000)
        // Bucket 19 holds waits of 2^19 ns ≈ 524 µs, above the 200 µs objective.
        telemetry.waitBucketPerTick = [3: 19]
        loop.tick(nowNanoseconds: 3_000_000)
        let view = loop.snapshot.read(slots: [3]).tenants[0]
        #expect(view.runQueueWaitP99Nanoseconds == Double(1 << 20))
        #expect(view.sloViolationTicks == 1)
        #expect(solver.solves == 2)
        #expect(loop.snapshot.read(slots: []).loop.solvesByCause.objectiveMissed == 1)
        // Its 0.1-core quota stays: a solve that changes nothing is counted but leaves no record (only the table's).
        #expect(loop.snapshot.read(slots: []).loop.solvesChangingAllocation == 1)
        #expect(loop.history.recent().count == 1)
    }

    /// Containers that come and go under fresh names (as a container engine reports them) leave no per-tenant
    /// state in the loop: what it keeps by name shrinks back to the table's tenants when a table is adopted.
    @Test func tenantsThatComeAndGoLeaveNoStateBehind() throws {
        let telemetry = ScriptedTelemetry(), solver = QuotaPlan(), enforcer = RecordingEnforcer()
        let loop = try makeLoop(telemetry, solver, enforcer)
        var now: UInt64 = 0
        for generation in 2...101 {
            let specs = [self.specs[0], TenantSpec(name: "container-\(generation)", cgroupPath: "t/\(generation)", tenantClass: .bestEffort)]
            loop.tables.publish(TenantTable(generation: UInt64(generation), host: host, specs: specs, slots: [3, 5], plan: try solver.plan(host: host, specs: specs, current: Allocation())))
            telemetry.cpuNanosecondsPerTick = [3: 100_000, 5: UInt64(generation) * 1_000]
            now += 1_000_000
            loop.tick(nowNanoseconds: now)
            #expect(enforcer.applied.last?.tenants["container-\(generation)"] != nil, "each newcomer gets an allocation, so its change is recorded")
        }
        #expect(Set(loop.lastChange.keys) == ["lc", "container-101"])
    }

    @Test func aRiseReachesTheSolverAtOnceAFallOnlyOnceItLastedAndAHeldShrinkAppliesWhenItsHoldEnds() throws {
        let telemetry = ScriptedTelemetry(), solver = QuotaPlan(), enforcer = RecordingEnforcer()
        let loop = try makeLoop(telemetry, solver, enforcer, shrinkHoldNanoseconds: 10_000_000)
        telemetry.cpuNanosecondsPerTick = [5: 1_000_000]
        for tick in 1...3 { loop.tick(nowNanoseconds: UInt64(tick) * 1_000_000) }
        #expect(solver.solves == 1)
        telemetry.cpuNanosecondsPerTick = [5: 100_000]
        // The 1-core peak stays in the held demand until both halves of the hold (5 ms each) have passed without it.
        for tick in 4...9 { loop.tick(nowNanoseconds: UInt64(tick) * 1_000_000) }
        #expect(solver.solves == 1)
        loop.tick(nowNanoseconds: 10_000_000)
        #expect(solver.solves == 2)
        #expect(loop.snapshot.read(slots: []).loop.solvesByCause.forecastMoved == 1)
        // be changed at 1 ms, so Damping holds its shrink until 11 ms; the loop solves again then and applies it.
        #expect(enforcer.applied.last?.tenants["be"]?.sharedCpuCores == 1)
        loop.tick(nowNanoseconds: 11_000_000)
        #expect(solver.solves == 3)
        #expect(enforcer.applied.last?.tenants["be"]?.sharedCpuCores == 0.1)
        telemetry.cpuNanosecondsPerTick = [5: 800_000]
        loop.tick(nowNanoseconds: 12_000_000)
        #expect(solver.solves == 4)
        #expect(enforcer.applied.last?.tenants["be"]?.sharedCpuCores == 0.8)
    }

    @Test func aTenantTimeSlicedBetweenNoCoreAndOneCoreIsNotResolvedEveryFewTicks() throws {
        let telemetry = ScriptedTelemetry(), solver = QuotaPlan(), enforcer = RecordingEnforcer()
        let loop = try makeLoop(telemetry, solver, enforcer, shrinkHoldNanoseconds: 100_000_000)
        // Three ticks on the CPU, five off, for 400 ticks: the usage a spinner sharing a core shows at 1 ms.
        for tick in 1...400 {
            telemetry.cpuNanosecondsPerTick = [5: tick % 8 < 3 ? 1_000_000 : 0]
            loop.tick(nowNanoseconds: UInt64(tick) * 1_000_000)
        }
        #expect(solver.solves == 1, "one solve for the table, sized for the 1-core peaks; none for the flips")
        #expect(enforcer.applied.last?.tenants["be"]?.sharedCpuCores == 1)
    }

    @Test func aSlotThatMeasuresNothingForASecondStopsFeedingItsForecasterUntilItUsesCPU() throws {
        let telemetry = ScriptedTelemetry(), solver = QuotaPlan(), enforcer = RecordingEnforcer()
        let forecaster = LastValueForecaster()
        let loop = try makeLoop(telemetry, solver, enforcer, forecaster: forecaster)
        telemetry.cpuNanosecondsPerTick = [5: 200_000]
        for tick in 1...1500 { loop.tick(nowNanoseconds: UInt64(tick) * 1_000_000) }
        #expect(forecaster.observations[3] == 1000, "lc measured nothing: fed for its first second only")
        #expect(forecaster.observations[5] == 1500)
        telemetry.cpuNanosecondsPerTick = [3: 500_000, 5: 200_000]
        loop.tick(nowNanoseconds: 1_501_000_000)
        #expect(forecaster.observations[3] == 1001)
        #expect(enforcer.applied.last?.tenants["lc"]?.sharedCpuCores == 0.5)
    }

    /// An idle tenant's average use falls to zero within seconds (it used to decay towards zero for ever, into
    /// subnormal numbers); a slot idle long enough is no longer folded, yet its published view stays right and it folds
    /// again on the tick telemetry brings it anything: a wait is counted and CPU reaches its forecaster at once.
    @Test func anIdleSlotSettlesWithItsAverageAtZeroAndWakesOnTheTickItMeasuresSomething() throws {
        let telemetry = ScriptedTelemetry(), solver = QuotaPlan(), enforcer = RecordingEnforcer()
        let forecaster = LastValueForecaster()
        let loop = try makeLoop(telemetry, solver, enforcer, forecaster: forecaster)
        var now: UInt64 = 0
        telemetry.cpuNanosecondsPerTick = [3: 1_000_000, 5: 200_000]
        run(loop, 100, from: &now)
        telemetry.cpuNanosecondsPerTick = [5: 200_000]
        run(loop, 4_000, from: &now)
        var view = loop.snapshot.read(slots: [3]).tenants[0]
        #expect(view.usageCpuCoresAverage == 0, "an idle tenant's average reaches zero: \(view.usageCpuCoresAverage)")
        #expect(view.usageCpuCores == 0 && view.cpuNanosecondsTotal == 100_000_000)
        #expect(forecaster.observations[3] == 1_100, "fed while busy and for its first idle second")
        // A solve publishes every view; a settled one is published as it stands.
        telemetry.cpuNanosecondsPerTick = [5: 900_000]
        run(loop, 1, from: &now)
        #expect(enforcer.applied.last?.tenants["be"]?.sharedCpuCores == 0.9)
        // Described, since a view's unmeasured fields are NaN (never equal to themselves).
        #expect("\(loop.snapshot.read(slots: [3]).tenants[0])" == "\(view)")
        // A wait on a settled slot: counted on its tick, with the window's quantiles.
        telemetry.waitBucketPerTick = [3: 9]
        run(loop, 1, from: &now)
        view = loop.snapshot.read(slots: [3]).tenants[0]
        #expect(view.runQueueWaitP99Nanoseconds == 1_024)
        #expect(forecaster.observations[3] == 1_101, "a wait is a measurement: the forecaster is fed again")
        telemetry.waitBucketPerTick = [:]
        run(loop, 3_000, from: &now)
        // CPU on a settled slot reaches the forecaster and the solver on the same tick.
        let observed = forecaster.observations[3] ?? 0
        telemetry.cpuNanosecondsPerTick = [3: 500_000, 5: 900_000]
        run(loop, 1, from: &now)
        #expect(forecaster.observations[3] == observed + 1)
        #expect(enforcer.applied.last?.tenants["lc"]?.sharedCpuCores == 0.5)
        view = loop.snapshot.read(slots: [3]).tenants[0]
        #expect(view.usageCpuCores == 0.5 && view.cpuNanosecondsTotal == 100_500_000)
    }

    /// A slot idle long enough to settle (its fold and its solve triggers skipped) still has its held demand fall when
    /// the shrink hold's peak window rotates, and that fall reaches the solver.
    @Test func aSettledSlotsHeldDemandFallsToTheSolverWhenItsPeakWindowRotates() throws {
        let telemetry = ScriptedTelemetry(), solver = QuotaPlan(), enforcer = RecordingEnforcer()
        let loop = try makeLoop(telemetry, solver, enforcer, shrinkHoldNanoseconds: 6_000_000_000)
        var now: UInt64 = 0
        telemetry.cpuNanosecondsPerTick = [3: 500_000, 5: 200_000]
        run(loop, 10, from: &now)
        #expect(enforcer.applied.last?.tenants["lc"]?.sharedCpuCores == 0.5)
        telemetry.cpuNanosecondsPerTick = [5: 200_000]
        // Settled after about 2 s (a second quiet, then its average below a nanocore); held at 0.5 until the window
        // holding its peak rotates out, 3 to 6 s after it went idle.
        run(loop, 2_900, from: &now)
        #expect(enforcer.applied.last?.tenants["lc"]?.sharedCpuCores == 0.5)
        run(loop, 3_200, from: &now)
        #expect(enforcer.applied.last?.tenants["lc"]?.sharedCpuCores == 0)
        #expect(loop.snapshot.read(slots: [3]).tenants[0].sharedCpuCores == 0)
    }

    /// The wait window kept at a growing scale gives the quantiles of a window decayed by 0.995 every tick, also
    /// across the rescaling (about every 69,000 ticks).
    @Test func waitQuantilesMatchAWindowDecayedEveryTick() throws {
        let telemetry = ScriptedTelemetry(), solver = QuotaPlan(), enforcer = RecordingEnforcer()
        let loop = try makeLoop(telemetry, solver, enforcer)
        var reference = [Double](repeating: 0, count: TelemetryFrame.waitBucketCount)
        func quantile(_ q: Double) -> Double {
            let rank = reference.reduce(0, +) * q
            var running = 0.0
            for (bucket, count) in reference.enumerated() {
                running += count
                if running >= rank { return Double(UInt64(1) << UInt64(bucket + 1)) }
            }
            return Double(UInt64(1) << UInt64(TelemetryFrame.waitBucketCount))
        }
        var mismatches = 0
        for tick in 1...70_000 {
            // Mostly short waits, a long one every 37 ticks, none on every fifth tick.
            let bucket: Int? = tick % 5 == 0 ? nil : (tick % 37 == 0 ? 21 : 9 + tick % 4)
            telemetry.waitBucketPerTick = bucket.map { [5: $0] } ?? [:]
            loop.tick(nowNanoseconds: UInt64(tick) * 1_000_000)
            for index in reference.indices { reference[index] *= 0.995 }
            if let bucket { reference[bucket] += 10 }
            if tick % 97 == 0 || tick > 69_990 {
                let view = loop.snapshot.read(slots: [5]).tenants[0]
                if view.runQueueWaitP50Nanoseconds != quantile(0.5) || view.runQueueWaitP90Nanoseconds != quantile(0.9)
                    || view.runQueueWaitP99Nanoseconds != quantile(0.99) { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
        #expect(loop.snapshot.read(slots: [5]).tenants[0].runQueueWaitP99Nanoseconds == Double(1 << 22))
    }

    @Test func aVanishedTenantGetsNoAllocationAndTheLoopGoesOn() throws {
        let telemetry = ScriptedTelemetry(), solver = QuotaPlan(), enforcer = RecordingEnforcer()
        let loop = try makeLoop(telemetry, solver, enforcer)
        telemetry.cpuNanosecondsPerTick = [3: 500_000, 5: 500_000]
        loop.tick(nowNanoseconds: 1_000_000)
        telemetry.vanishedSlots = [5]
        telemetry.cpuNanosecondsPerTick = [3: 900_000]
        loop.tick(nowNanoseconds: 2_000_000)
        loop.tick(nowNanoseconds: 3_000_000)
        #expect(loop.snapshot.read(slots: [5]).tenants[0].vanished)
        #expect(enforcer.applied.last?.tenants["be"] == nil)
        #expect(enforcer.applied.last?.tenants["lc"]?.sharedCpuCores == 0.9)
        #expect(loop.snapshot.read(slots: []).loop.ticks == 3)
    }
}

@Suite struct SolvePlannerTests {
    /// Solve gives a tenant that owns exclusive cores no shared-pool quota (Enforce confines it to its cores), so
    /// the plan passes on a quota every tenant can use.
    @Test func aTenantOnExclusiveCoresGetsNoSharedQuota() throws {
        let host = HostCapacity(cores: (0..<4).map { Core(id: $0) }, memoryBytesPerNode: [8e9], housekeepingCoreIDs: [0])
        let specs = [TenantSpec(name: "lc", cgroupPath: "lc", tenantClass: .latencyCritical),
                     TenantSpec(name: "be", cgroupPath: "be", tenantClass: .bestEffort)]
        let plan = try SolvePlanner(manageMemory: true).plan(host: host, specs: specs, current: Allocation())
        let demands = [TenantDemand(cpuCores: Forecast(expected: 2.5, atQuantile: 2.5, confidence: 1)),
                       TenantDemand(cpuCores: Forecast(expected: 1.5, atQuantile: 1.5, confidence: 1))]
        var given = [TenantAllocation(), TenantAllocation()]
        #expect(try plan.solve(demands: demands, present: [true, true], into: &given) >= 0)
        let allocation = Allocation(tenants: ["lc": given[0], "be": given[1]])
        try allocation.validate(host: host, specs: specs)
        #expect(allocation.tenants["lc"]?.exclusiveCoreIDs.count == 3)
        #expect(allocation.tenants["lc"]?.sharedCpuCores == 0)
        #expect(abs((allocation.tenants["be"]?.sharedCpuCores ?? 0) - 1) < 1e-9)
    }
}
