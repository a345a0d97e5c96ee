import Testing

@testable import CLoop

/// `ThrottleWatch` alone: when a tenant's throttling is read, and the runnable demand a report shows.
struct ThrottleWatchTests {
    let millisecond: UInt64 = 1_000_000
    let period = ThrottleWatch.quotaPeriodNanoseconds

    @Test func aTickAboveTheQuotaStartsTheWatchAndNothingElseDoes() {
        var watch = ThrottleWatch()
        let start: UInt64 = 1_000 * millisecond
        #expect(watch.fold(watching: false, cpuNanoseconds: millisecond, throttledNanoseconds: 0, aboveQuota: false,
                            elapsedNanoseconds: millisecond, nowNanoseconds: start) == false)
        #expect(watch.fold(watching: false, cpuNanoseconds: millisecond, throttledNanoseconds: 0, aboveQuota: true,
                           elapsedNanoseconds: millisecond, nowNanoseconds: start + millisecond) == true)
        // The span starts with the tick's interval, whose CPU it counts.
        #expect(watch.markNanoseconds == start)
        #expect(watch.cpuNanosecondsSinceMark == millisecond)
        #expect(watch.runnableCpuCores == 0)
        // Without another tick above the quota the watch lapses after `watchNanoseconds`.
        let lapse = start + millisecond + ThrottleWatch.watchNanoseconds
        #expect(watch.fold(watching: true, cpuNanoseconds: 0, throttledNanoseconds: 0, aboveQuota: false,
                           elapsedNanoseconds: millisecond, nowNanoseconds: lapse - 1) == true)
        #expect(watch.fold(watching: true, cpuNanoseconds: 0, throttledNanoseconds: 0, aboveQuota: false,
                            elapsedNanoseconds: 1, nowNanoseconds: lapse) == false)
    }

    /// Used CPU plus throttled time over the span since the mark, the span at least a period; the report stands
    /// `reportStandsNanoseconds` and then lapses.
    @Test func aReportShowsTheRunnableDemandUntilItGoesStale() {
        var watch = ThrottleWatch()
        let start: UInt64 = 1_000 * millisecond
        _ = watch.fold(watching: false, cpuNanoseconds: millisecond, throttledNanoseconds: 0, aboveQuota: true,
                       elapsedNanoseconds: millisecond, nowNanoseconds: start)
        // Two milliseconds later the kernel reports 3 ms held: 1 + 3 ms over a whole period (not 2 ms).
        let report = start + 2 * millisecond
        _ = watch.fold(watching: true, cpuNanoseconds: 0, throttledNanoseconds: 3 * millisecond, aboveQuota: false,
                       elapsedNanoseconds: millisecond, nowNanoseconds: report)
        #expect(watch.runnableCpuCores == Double(4 * millisecond) / Double(period))
        #expect(watch.markNanoseconds == report)
        #expect(watch.cpuNanosecondsSinceMark == 0)
        // A span longer than a period is the span: 10 ms used and 20 ms held over 20 ms is 1.5 cores.
        let next = report + 2 * period
        _ = watch.fold(watching: true, cpuNanoseconds: 10 * millisecond, throttledNanoseconds: 20 * millisecond,
                       aboveQuota: false, elapsedNanoseconds: millisecond, nowNanoseconds: next)
        #expect(watch.runnableCpuCores == 1.5)
        _ = watch.fold(watching: false, cpuNanoseconds: 0, throttledNanoseconds: 0, aboveQuota: false,
                       elapsedNanoseconds: millisecond, nowNanoseconds: next + ThrottleWatch.reportStandsNanoseconds)
        #expect(watch.runnableCpuCores == 1.5)
        _ = watch.fold(watching: false, cpuNanoseconds: 0, throttledNanoseconds: 0, aboveQuota: false,
                       elapsedNanoseconds: 1, nowNanoseconds: next + ThrottleWatch.reportStandsNanoseconds + 1)
        #expect(watch.runnableCpuCores == 0)
    }

    /// Throttled time the telemetry reads while the watch is off (it reads none then) is not a report.
    @Test func throttlingOutsideTheWatchIsNotCounted() {
        var watch = ThrottleWatch()
        #expect(watch.fold(watching: false, cpuNanoseconds: millisecond, throttledNanoseconds: 5 * millisecond,
                            aboveQuota: false, elapsedNanoseconds: millisecond, nowNanoseconds: 1_000 * millisecond) == false)
        #expect(watch == ThrottleWatch())
    }
}
