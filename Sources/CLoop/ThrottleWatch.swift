import Enforce

/// One slot's throttle watch: the runnable demand of a tenant that its CFS quota holds back.
///
/// A tenant held by its quota cannot use more than the quota, so its usage hides what it wants. A tick at a rate
/// above its quota (it spends the period's budget faster than it refills) has the telemetry read its throttled time
/// for a while (`TelemetryFrame.watchesThrottling`); when the kernel reports throttling, the CPU it used plus the
/// time it was held, over the same span, is its runnable demand, and the forecaster sees that instead of the usage
/// until the report goes stale.
///
/// A plain value kept per slot in the loop's preallocated storage; `fold` is its whole rule.
struct ThrottleWatch: Equatable {
    /// Until when the telemetry reads the slot's throttling (CLOCK_MONOTONIC).
    private(set) var untilNanoseconds: UInt64 = 0
    /// Since when the span of the next report runs: the watch's start or the last throttle report.
    private(set) var markNanoseconds: UInt64 = 0
    /// CPU the tenant used since `markNanoseconds`.
    private(set) var cpuNanosecondsSinceMark: UInt64 = 0
    /// The runnable demand the last throttle report showed, in cores (0: none standing).
    private(set) var runnableCpuCores: Double = 0

    /// The CFS period Enforce writes quotas against.
    static let quotaPeriodNanoseconds = UInt64(CgroupBackend.cpuPeriodMicroseconds) * 1_000
    /// How long a tick above the quota keeps the tenant's throttling read (ten periods: a tenant held at its quota
    /// goes above it in the tick it is throttled, once a period, and so stays watched).
    static let watchNanoseconds: UInt64 = 10 * quotaPeriodNanoseconds
    /// A throttle report stands this long: ten periods. A tenant still held reports again when it next runs out of
    /// quota, within a period if it runs every period, but a spinner time-sliced in a full pool gets a slice (its
    /// quota) every few tens of milliseconds; at two and a half periods its demand lapsed between reports, and so
    /// did the guard that keeps the saturation rule from raising it (agent benchmark, 2026-11-30).
    static let reportStandsNanoseconds: UInt64 = 10 * quotaPeriodNanoseconds

    /// Folds one tick of the slot's telemetry and returns whether the telemetry reads its throttling from the next
    /// drain on. `watching`: whether this drain read it; `throttledNanoseconds`: the throttled time it reported;
    /// `aboveQuota`: the tenant runs under a quota (no exclusive cores) of at least its shared cores (Enforce), and
    /// used more than them this tick, which starts or extends the watch.
    @inline(__always)
    mutating func fold(
        watching: Bool, cpuNanoseconds: UInt64, throttledNanoseconds: UInt64, aboveQuota: Bool,
        elapsedNanoseconds: UInt64, nowNanoseconds: UInt64
    ) -> Bool {
        if watching {
            cpuNanosecondsSinceMark &+= cpuNanoseconds
            if throttledNanoseconds > 0, nowNanoseconds > markNanoseconds {
                // The kernel adds throttled time when a run queue is unthrottled (at the period's end, also mid-period
                // from its slack timer), so a report can cover more than the time since the previous one: the span
                // is at least a period. Over that time alone it gave a latency-critical spinner forecasts of up to
                // 35 cores on a 2-CPU host, and a solve at every swing (Benchmarks/agent results, 2026-11-30).
                let span = max(nowNanoseconds - markNanoseconds, Self.quotaPeriodNanoseconds)
                runnableCpuCores = Double(cpuNanosecondsSinceMark &+ throttledNanoseconds) / Double(span)
                markNanoseconds = nowNanoseconds
                cpuNanosecondsSinceMark = 0
            }
        }
        if aboveQuota {
            if !watching {
                // The span starts with this tick's interval, whose CPU time it counts.
                markNanoseconds = nowNanoseconds &- elapsedNanoseconds
                cpuNanosecondsSinceMark = cpuNanoseconds
                runnableCpuCores = 0
            }
            untilNanoseconds = nowNanoseconds &+ Self.watchNanoseconds
        }
        if nowNanoseconds &- markNanoseconds > Self.reportStandsNanoseconds { runnableCpuCores = 0 }
        return nowNanoseconds < untilNanoseconds
    }
}
