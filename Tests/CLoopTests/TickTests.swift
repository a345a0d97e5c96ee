import Pool
import Testing

@testable import CLoop

@Suite struct TickScheduleTests {
    @Test func onTimeWakeUpsAdvanceByOnePeriod() {
        var schedule = TickSchedule(periodNanoseconds: 1_000_000, startNanoseconds: 10_000_000)
        #expect(schedule.deadlineNanoseconds == 11_000_000)
        let woke = schedule.woke(atNanoseconds: 11_020_000)
        #expect(woke.latenessNanoseconds == 20_000)
        #expect(woke.skipped == 0)
        #expect(schedule.deadlineNanoseconds == 12_000_000)
    }

    @Test func deadlinesAreAbsoluteSoLatenessDoesNotAccumulate() {
        var schedule = TickSchedule(periodNanoseconds: 1_000_000, startNanoseconds: 0)
        for tick in 1...100 {
            let deadline = UInt64(tick) * 1_000_000
            #expect(schedule.deadlineNanoseconds == deadline)
            _ = schedule.woke(atNanoseconds: deadline + 300_000)
        }
        #expect(schedule.missedTicks == 0)
    }

    @Test func aLongStallSkipsMissedTicksInsteadOfBursting() {
        var schedule = TickSchedule(periodNanoseconds: 1_000_000, startNanoseconds: 0)
        let woke = schedule.woke(atNanoseconds: 4_500_000)
        #expect(woke.latenessNanoseconds == 3_500_000)
        #expect(woke.skipped == 3)
        #expect(schedule.deadlineNanoseconds == 5_000_000)
        #expect(schedule.missedTicks == 3)
    }

    @Test func workPastTheNextDeadlineSkipsItSoTheLoopAlwaysSleeps() {
        var schedule = TickSchedule(periodNanoseconds: 1_000_000, startNanoseconds: 0)
        _ = schedule.woke(atNanoseconds: 1_000_000)
        #expect(schedule.finished(atNanoseconds: 1_900_000) == 0)
        #expect(schedule.deadlineNanoseconds == 2_000_000)
        // The work ran until 2.000001 ms: the 2 ms deadline passed, so the next tick is at 3 ms.
        #expect(schedule.finished(atNanoseconds: 2_000_001) == 1)
        #expect(schedule.deadlineNanoseconds == 3_000_000)
        #expect(schedule.missedTicks == 1)
    }
}

@Suite struct HistogramTests {
    @Test func bucketsCoverValuesWithinAnEighth() {
        for value: UInt64 in [0, 1, 7, 8, 9, 15, 16, 100, 999, 20_000, 1_000_000, 123_456_789, UInt64.max / 3] {
            let index = LatencyHistogram.bucketIndex(value)
            #expect(LatencyHistogram.lowerBound(ofBucket: index) <= value)
            #expect(LatencyHistogram.upperBound(ofBucket: index) >= value)
            let width = LatencyHistogram.upperBound(ofBucket: index) - LatencyHistogram.lowerBound(ofBucket: index)
            #expect(Double(width) <= max(1, Double(value) / 8))
        }
    }

    @Test func quantilesOfAKnownSample() {
        let histogram = LatencyHistogram()
        for value in 1...1000 { histogram.record(UInt64(value) * 1000) }
        let snapshot = histogram.snapshot()
        #expect(snapshot.count == 1000)
        #expect(snapshot.sumNanoseconds == 500_500_000)
        let p50 = Double(snapshot.quantile(0.5)), p99 = Double(snapshot.quantile(0.99))
        #expect(p50 >= 500_000 && p50 <= 500_000 * 1.13)
        #expect(p99 >= 990_000 && p99 <= 990_000 * 1.13)
        #expect(snapshot.cumulative(atOrBelow: [UInt64.max]) == [1000])
    }
}

@Suite struct DampingTests {
    let host = HostCapacity(cores: (0..<4).map { Core(id: $0) }, memoryBytesPerNode: [8e9], housekeepingCoreIDs: [0])
    let specs = [TenantSpec(name: "a", cgroupPath: "a", tenantClass: .burstable), TenantSpec(name: "b", cgroupPath: "b", tenantClass: .bestEffort)]

    func allocation(_ a: Double, _ b: Double, aCores: [Int] = []) -> Allocation {
        Allocation(tenants: ["a": TenantAllocation(exclusiveCoreIDs: aCores, sharedCpuCores: a), "b": TenantAllocation(sharedCpuCores: b)])
    }

    @Test func smallChangesAreHeldBack() {
        let result = Damping.damp(proposed: allocation(1.02, 1), applied: allocation(1, 1), host: host, specs: specs,
                                  lastChangeNanoseconds: [:], nowNanoseconds: 1_000_000_000, settings: .init())
        #expect(result.changes.isEmpty)
        #expect(result.allocation.tenants["a"]?.sharedCpuCores == 1)
    }

    @Test func growthAppliesButARecentShrinkIsHeld() {
        let settings = AgentConfig.Hysteresis()
        let now: UInt64 = 1_000_000_000
        let grown = Damping.damp(proposed: allocation(2, 1), applied: allocation(1, 1), host: host, specs: specs,
                                 lastChangeNanoseconds: ["a": now - 1_000_000], nowNanoseconds: now, settings: settings)
        #expect(grown.allocation.tenants["a"]?.sharedCpuCores == 2)
        #expect(grown.changes.map(\.tenant) == ["a"])
        let shrunk = Damping.damp(proposed: allocation(0.5, 1), applied: allocation(1, 1), host: host, specs: specs,
                                  lastChangeNanoseconds: ["a": now - 1_000_000], nowNanoseconds: now, settings: settings)
        #expect(shrunk.allocation.tenants["a"]?.sharedCpuCores == 1)
        let later = Damping.damp(proposed: allocation(0.5, 1), applied: allocation(1, 1), host: host, specs: specs,
                                 lastChangeNanoseconds: ["a": now - 1_000_000], nowNanoseconds: now + settings.shrinkHoldNanoseconds, settings: settings)
        #expect(later.allocation.tenants["a"]?.sharedCpuCores == 0.5)
    }

    @Test func exclusiveCoreChangesAlwaysApply() {
        let result = Damping.damp(proposed: allocation(0, 1, aCores: [1]), applied: allocation(0.01, 1), host: host, specs: specs,
                                  lastChangeNanoseconds: [:], nowNanoseconds: 1, settings: .init())
        #expect(result.allocation.tenants["a"]?.exclusiveCoreIDs == [1])
        #expect(result.changes.first?.afterCoreIDs == [1])
    }

    @Test func dampingNeverBreaksCapacity() {
        // Holding a's shrink would leave 1 + 3 = 4.0 cores > 4? No: exactly 4 fits; push b to 3.5 so holding breaks it.
        let now: UInt64 = 1_000_000_000
        let result = Damping.damp(proposed: allocation(0.5, 3.5), applied: allocation(1, 1), host: host, specs: specs,
                                  lastChangeNanoseconds: ["a": now], nowNanoseconds: now, settings: .init())
        #expect(result.allocation == allocation(0.5, 3.5))
    }

    @Test func forecastMovesAreRelativeWithAFloor() {
        #expect(!Damping.forecastMoved(lastSolved: 0.001, now: 0.003, minimumMove: 0, relativeThreshold: 0.1))
        #expect(!Damping.forecastMoved(lastSolved: 0.01, now: 0.019, minimumMove: 0, relativeThreshold: 0.1))
        #expect(Damping.forecastMoved(lastSolved: 0, now: 1, minimumMove: 0, relativeThreshold: 0.1))
        #expect(!Damping.forecastMoved(lastSolved: 1, now: 1.05, minimumMove: 0, relativeThreshold: 0.1))
        #expect(Damping.forecastMoved(lastSolved: 1, now: 1.2, minimumMove: 0, relativeThreshold: 0.1))
    }

    @Test func aMoveSmallerThanTheMinimumIsNoMove() {
        // A time-sliced spinner: its quantile wanders 1.3 → 1.46 inside a headroom of 0.7 core.
        #expect(!Damping.forecastMoved(lastSolved: 1.3, now: 1.46, minimumMove: 0.7, relativeThreshold: 0.1))
        #expect(Damping.forecastMoved(lastSolved: 1.3, now: 2.2, minimumMove: 0.7, relativeThreshold: 0.1))
        #expect(Damping.forecastMoved(lastSolved: 1.46, now: 0.05, minimumMove: 0.05, relativeThreshold: 0.1))
        // A throttled tenant's 0.02 → 0.05 cores is below the 0.05-core change Damping would apply.
        #expect(!Damping.forecastMoved(lastSolved: 0.02, now: 0.05, minimumMove: 0.05, relativeThreshold: 0.1))
    }
}

@Suite struct TableTests {
    @Test func slotsAreReusedOnlyAfterRelease() {
        var slots = SlotAllocator(capacity: 2)
        #expect(slots.slot(for: "a")! == (0, true))
        #expect(slots.slot(for: "a")! == (0, false))
        #expect(slots.slot(for: "b")! == (1, true))
        #expect(slots.slot(for: "c") == nil)
        #expect(slots.release(allBut: ["b"]) == [0])
        #expect(slots.slot(for: "c")! == (0, true))
    }

    @Test func theExchangeHandsOverTheNewestTableOnce() {
        let exchange = TenantTableExchange()
        let host = HostCapacity(cores: [Core(id: 0)], memoryBytesPerNode: [1e9])
        exchange.publish(TenantTable(generation: 1, host: host, specs: [], slots: []))
        exchange.publish(TenantTable(generation: 2, host: host, specs: [], slots: []))
        #expect(exchange.take()?.generation == 2)
        #expect(exchange.take() == nil)
        #expect(exchange.currentGeneration == 2)
    }

    @Test func theSnapshotReturnsWhatWasWritten() {
        let buffer = SnapshotBuffer(capacity: 4)
        buffer.write { tenants, loop in
            tenants[2].usageCpuCores = 1.5
            tenants[2].setExclusiveCores([1, 3, 70])
            loop.pointee.ticks = 7
        }
        let read = buffer.read(slots: [2, 9])
        #expect(read.loop.ticks == 7)
        #expect(read.tenants[0].usageCpuCores == 1.5)
        #expect(read.tenants[0].exclusiveCoreIDs == [1, 3, 70])
        #expect(read.tenants[1].slot == -1)
        #expect(read.tenants[1].usageCpuCores == 0)
    }
}
