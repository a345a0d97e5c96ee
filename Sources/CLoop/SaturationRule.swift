import Enforce

/// One slot's saturation rule: a tenant whose CPU use over the last quota period reached its quota has its CPU
/// demand raised at once, without waiting for a throttle report.
///
/// A throttle report (`ThrottleWatch`) comes when a period ends, and Predict re-anchors on a new level only after
/// about four values, so a tenant that starts spinning under a small quota would wait a period and more for a
/// larger one. This rule answers at once: a tenant that used its quota within the last period (it was throttled, its
/// true demand unknown) is raised to twice what its quota holds (bounded by its cap), and the loop solves on that
/// tick (`SolveRecord.Cause.quotaSaturated`). A running task's CPU time is published when it switches out, and under a
/// quota that is the throttle, which the kernel (HZ=250 here) applies only at its next 4 ms scheduler tick: up to
/// 4 ms after the quota ran out, then up to a millisecond each for the flush and the tick. So the rule also counts
/// the tenant's ongoing runs in its span (`TelemetryFrame.ongoingRunNanoseconds`, from what each CPU runs now), and a
/// spinner is raised on the first tick after it spent its quota. Once a throttle report stands, the runnable demand
/// it shows takes over; until then a tenant still saturated a period after a raise is raised again from what it then
/// holds (multiplicative increase).
///
/// Guards against a bursty tenant that merely uses its quota: only a rise is raised (average use below half the
/// quota: a spinner held at its share of a contended pool uses its quota without being throttled), a raise the
/// solver did not grant is not repeated for ten seconds, and the raise lasts only until a report or
/// `standsNanoseconds`. (The loop then holds it at its peak for the shrink hold like any forecast, and a raise the
/// last solve already saw and did not grant triggers nothing: `Damping.demandStaysUnmet`.)
///
/// A plain value kept per slot in the loop's preallocated storage; `fold` is its whole rule.
struct SaturationRule: Equatable {
    /// CPU the slot used in the current and the previous half of a quota period: their sum covers between half a
    /// period and a whole one up to now, the span the rule compares with the quota (the loop rotates them).
    private(set) var cpuNanosecondsThisHalfPeriod: UInt64 = 0
    private(set) var cpuNanosecondsLastHalfPeriod: UInt64 = 0
    /// The CPU demand the rule raised the slot to (cores, 0: none standing) and when.
    private(set) var raisedCpuCores: Double = 0
    private(set) var raisedAtNanoseconds: UInt64 = 0
    /// The CPU the slot held when it was last raised; -infinity once the raise grew its allocation (granted).
    private(set) var heldCpuCoresAtRaise: Double = 0

    /// The quota period, the span the rule judges.
    static let quotaPeriodNanoseconds = ThrottleWatch.quotaPeriodNanoseconds
    /// A raise stands this long unless a throttle report replaces it first: two and a half periods, so the report
    /// of the period it saturated (read within `CpuThrottleFiles`' read interval) is due before it lapses.
    static let standsNanoseconds: UInt64 = 5 * quotaPeriodNanoseconds / 2
    /// A tenant saturates its quota when it used this share of it within the last quota period: the kernel lets a
    /// throttled tenant overrun (it checks the budget at scheduler ticks, 4 ms at HZ=250), never stop short, so the
    /// margin only covers rounding between the telemetry's clock and the kernel's.
    static let saturationShare = 0.97
    /// The rule is for a rise in demand: it raises a tenant only while its average use (over about 100 ticks) is
    /// below this share of its quota. Without it, latency-critical spinners in the agent benchmark's contended
    /// shared pool, each using about the share it was given without being throttled, triggered 10-16 solves a
    /// second (quota raised, then shrunk after the hold, then raised again).
    static let onsetShare = 0.5
    /// A raise that did not grow the tenant's allocation (the solver had nothing to give: a full pool) is not
    /// repeated for this long; its throttle reports still reach Predict, and a pool that frees up shows in its
    /// forecast. Repeated, latency-critical spinners in the agent benchmark's full shared pool, time-sliced in lumps
    /// of a few milliseconds (each a whole quota), were raised and fell back about ten times a second each (40
    /// solves a second idle, 7 of 2495 changing an allocation); retried after a second, still 9.5 solves a second
    /// idle against main's 13 solves a minute (a raise, then the solve of its fall), 1 of 600 changing an allocation.
    static let deniedRaiseRetryNanoseconds: UInt64 = 10_000_000_000

    /// Starts a new half period: the span the rule judges drops its oldest half.
    @inline(__always)
    mutating func rotateHalfPeriod() {
        cpuNanosecondsLastHalfPeriod = cpuNanosecondsThisHalfPeriod
        cpuNanosecondsThisHalfPeriod = 0
    }

    /// Folds one tick of the slot and returns the CPU demand the rule raised it to (cores; 0 when none stands). A
    /// raise waits a period after the previous one, so that the tenant's use under what it then holds is what the
    /// next one judges. The use it judges is the CPU time published in its span plus the tenant's ongoing runs in
    /// that span (`ongoingRunNanoseconds`), which the span's sums never keep: the records bring that time when the
    /// task switches out.
    ///
    /// `quotaLimited`: the tenant runs under a quota the loop gave it (no exclusive cores, an allocation applied);
    /// `sharedCpuCores`, `heldCpuCores`: that quota's cores and all the CPU it holds; `averageCpuCores`: its average
    /// use; `runnableCpuCores`: the runnable demand a standing throttle report shows (0: none).
    @inline(__always)
    mutating func fold(
        cpuNanoseconds: UInt64, ongoingRunNanoseconds: UInt64, quotaLimited: Bool, sharedCpuCores: Double,
        heldCpuCores: Double, capCpuCores: Double, averageCpuCores: Double, runnableCpuCores: Double,
        nowNanoseconds: UInt64
    ) -> Double {
        cpuNanosecondsThisHalfPeriod &+= cpuNanoseconds
        if heldCpuCores > heldCpuCoresAtRaise { heldCpuCoresAtRaise = -.infinity }
        // A throttle report's runnable demand takes over; an unconfirmed raise lapses like a report.
        if runnableCpuCores > 0 || nowNanoseconds &- raisedAtNanoseconds > Self.standsNanoseconds { raisedCpuCores = 0 }
        guard quotaLimited, runnableCpuCores == 0, cpuNanoseconds > 0 || ongoingRunNanoseconds > 0,
              nowNanoseconds >= raisedAtNanoseconds &+ Self.quotaPeriodNanoseconds else { return raisedCpuCores }
        let quotaMicroseconds = CgroupBackend.quotaMicroseconds(sharedCpuCores)
        let used = cpuNanosecondsThisHalfPeriod &+ cpuNanosecondsLastHalfPeriod &+ ongoingRunNanoseconds
        guard Double(used) >= Self.saturationShare * Double(quotaMicroseconds) * 1_000 else { return raisedCpuCores }
        let quotaCpuCores = Double(quotaMicroseconds) / Double(CgroupBackend.cpuPeriodMicroseconds)
        // A tenant that has used about its quota for a while is not starting anything: in a contended pool its use
        // matches the share the scheduler gives it, quota or not, and its throttled time (if any) speaks for it.
        guard averageCpuCores < Self.onsetShare * quotaCpuCores else { return raisedCpuCores }
        let raised = min(capCpuCores, 2 * quotaCpuCores)
        guard raised > heldCpuCores else { return raisedCpuCores }
        let lastRaiseDenied = raisedAtNanoseconds != 0 && heldCpuCoresAtRaise > -.infinity
        guard !lastRaiseDenied || nowNanoseconds &- raisedAtNanoseconds >= Self.deniedRaiseRetryNanoseconds else { return raisedCpuCores }
        raisedCpuCores = raised
        raisedAtNanoseconds = nowNanoseconds
        heldCpuCoresAtRaise = heldCpuCores
        // The next raise judges the use under the allocation this one brings.
        cpuNanosecondsThisHalfPeriod = 0
        cpuNanosecondsLastHalfPeriod = 0
        return raised
    }
}
