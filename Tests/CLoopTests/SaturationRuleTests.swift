import Testing

@testable import CLoop

/// `SaturationRule` alone: which use of a quota raises a tenant, to what, and what holds a raise back.
struct SaturationRuleTests {
    let millisecond: UInt64 = 1_000_000
    let period = SaturationRule.quotaPeriodNanoseconds
    /// A tenant on a 0.1-core quota (1 ms per 10 ms period), holding just that, capped at 4 cores.
    let quotaCores = 0.1

    func fold(
        _ rule: inout SaturationRule, cpu: UInt64 = 0, ongoingRun: UInt64 = 0, quotaLimited: Bool = true,
        shared: Double? = nil, held: Double? = nil, cap: Double = 4, average: Double = 0, runnable: Double = 0,
        at now: UInt64
    ) -> Double {
        rule.fold(
            cpuNanoseconds: cpu, ongoingRunNanoseconds: ongoingRun, quotaLimited: quotaLimited,
            sharedCpuCores: shared ?? quotaCores, heldCpuCores: held ?? quotaCores, capCpuCores: cap,
            averageCpuCores: average, runnableCpuCores: runnable, nowNanoseconds: now)
    }

    @Test func aTenantThatSpentItsQuotaIsRaisedToTwiceIt() {
        var rule = SaturationRule()
        let now: UInt64 = 1_000 * millisecond
        #expect(fold(&rule, cpu: millisecond, at: now) == 2 * quotaCores)
        #expect(rule.raisedAtNanoseconds == now)
        #expect(rule.heldCpuCoresAtRaise == quotaCores)
        // The next raise judges the use under the new allocation.
        #expect(rule.cpuNanosecondsThisHalfPeriod == 0 && rule.cpuNanosecondsLastHalfPeriod == 0)
    }

    /// The run in progress (from each CPU's running word) counts: a spinner is raised before it switches out.
    @Test func anOngoingRunCounts() {
        var rule = SaturationRule()
        #expect(fold(&rule, ongoingRun: millisecond, at: 1_000 * millisecond) == 2 * quotaCores)
    }

    @Test func useShortOfTheQuotaOrOfALoopQuotaRaisesNothing() {
        var rule = SaturationRule()
        let now: UInt64 = 1_000 * millisecond
        #expect(fold(&rule, cpu: 9 * millisecond / 10, at: now) == 0)
        #expect(fold(&rule, cpu: millisecond, quotaLimited: false, at: now + millisecond) == 0)
        #expect(rule.raisedAtNanoseconds == 0)
    }

    /// The span is the current and the previous half period: use older than that drops out.
    @Test func theSpanIsTheLastTwoHalfPeriods() {
        var rule = SaturationRule()
        let now: UInt64 = 1_000 * millisecond
        #expect(fold(&rule, cpu: millisecond / 2, at: now) == 0)
        rule.rotateHalfPeriod()
        #expect(fold(&rule, cpu: millisecond / 2, at: now + period / 2) == 2 * quotaCores)
        var stale = SaturationRule()
        _ = fold(&stale, cpu: millisecond / 2, at: now)
        stale.rotateHalfPeriod()
        stale.rotateHalfPeriod()
        #expect(fold(&stale, cpu: millisecond / 2, at: now + period) == 0)
    }

    /// Only a rise: a tenant whose average use is already half its quota or more is not raised.
    @Test func theOnsetShareHoldsBackATenantAlreadyAtItsQuota() {
        var rule = SaturationRule()
        let onset = SaturationRule.onsetShare * quotaCores
        #expect(fold(&rule, cpu: millisecond, average: onset, at: 1_000 * millisecond) == 0)
        #expect(fold(&rule, cpu: millisecond, average: onset * 0.99, at: 1_001 * millisecond) == 2 * quotaCores)
    }

    @Test func theCapBoundsTheRaiseAndACapAtWhatItHoldsRaisesNothing() {
        var rule = SaturationRule()
        #expect(fold(&rule, cpu: millisecond, cap: 0.15, at: 1_000 * millisecond) == 0.15)
        var capped = SaturationRule()
        #expect(fold(&capped, cpu: millisecond, cap: quotaCores, at: 1_000 * millisecond) == 0)
    }

    /// A standing throttle report takes over from a raise; an unconfirmed raise lapses after `standsNanoseconds`.
    @Test func aRaiseEndsWithAReportOrWhenItLapses() {
        let now: UInt64 = 1_000 * millisecond
        var reported = SaturationRule()
        _ = fold(&reported, cpu: millisecond, at: now)
        #expect(fold(&reported, cpu: millisecond, runnable: 1, at: now + millisecond) == 0)
        var lapsing = SaturationRule()
        _ = fold(&lapsing, cpu: millisecond, at: now)
        #expect(fold(&lapsing, at: now + SaturationRule.standsNanoseconds) == 2 * quotaCores)
        #expect(fold(&lapsing, at: now + SaturationRule.standsNanoseconds + 1) == 0)
    }

    /// A granted raise (the allocation grew) lets the next period's saturation raise again from what it then holds;
    /// a denied one (it holds what it held) is retried only after `deniedRaiseRetryNanoseconds`.
    @Test func aGrantedRaiseMayGrowAgainADeniedOneWaits() {
        let now: UInt64 = 1_000 * millisecond
        var granted = SaturationRule()
        _ = fold(&granted, cpu: millisecond, at: now)
        // Within a period of the raise nothing is judged; then, holding 0.2 core, it spent that quota too.
        #expect(fold(&granted, cpu: 2 * millisecond, shared: 0.2, held: 0.2, at: now + period - 1) == 2 * quotaCores)
        #expect(granted.heldCpuCoresAtRaise == -.infinity)
        #expect(fold(&granted, cpu: 2 * millisecond, shared: 0.2, held: 0.2, at: now + period) == 0.4)

        var denied = SaturationRule()
        _ = fold(&denied, cpu: millisecond, at: now)
        let late = now + period + SaturationRule.standsNanoseconds
        #expect(fold(&denied, cpu: millisecond, at: late) == 0)
        let retry = now + SaturationRule.deniedRaiseRetryNanoseconds
        #expect(fold(&denied, cpu: millisecond, at: retry - 1) == 0)
        #expect(fold(&denied, cpu: millisecond, at: retry) == 2 * quotaCores)
        #expect(denied.raisedAtNanoseconds == retry)
    }
}
