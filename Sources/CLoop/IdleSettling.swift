/// One slot's way to costing nothing while its tenant idles.
///
/// A slot that measured nothing (no CPU, no waits, no memory reading) for a second is quiescent: its forecaster is
/// not fed until it measures something again (its forecast has settled at the idle floor by then, and Predict takes
/// the gap to the next observation as missed steps). A quiescent slot whose fold left nothing that still moves (no
/// wait quantile standing, no throttle watch or report, its average use at zero) is settling: a fold with nothing new
/// would leave its view and demand as they are, so the next such tick skips it and the slot is settled (its view is
/// then published already and is not copied again). A settled slot whose solve triggers fired nothing in the current
/// check epoch (the loop moves the epoch on every solve, table change and peak rotation: whatever may change whether
/// a quiet slot triggers a solve) skips them too until the epoch moves. Any telemetry for the slot makes it fold
/// again on the same tick.
///
/// A plain value kept per slot in the loop's preallocated storage.
struct IdleSettling: Equatable {
    /// Where a slot stands on its way to being skipped by the fold.
    enum Stage: UInt8 {
        case active, settling, settled
    }

    /// Consecutive folded ticks the slot measured nothing, saturating just past the quiescence threshold.
    private(set) var quietTicks: UInt32 = 0
    private(set) var stage = Stage.active
    /// The check epoch in which the settled slot last triggered nothing (`.max`: none since it last folded).
    private(set) var quietCheckEpoch = UInt64.max

    /// Whether the slot's fold (and, once settled, its publishing) is skipped this tick.
    var isSettled: Bool { stage == .settled }

    /// Whether this tick's fold is skipped: the slot is settling or settled and the frame brought `nothingNew` for
    /// it (no CPU, ongoing run, waits, memory reading or throttled time, its cgroup still there). A fold that runs
    /// may move its demand, so its solve triggers are checked again once it has settled.
    @inline(__always)
    mutating func skipsFold(nothingNew: Bool) -> Bool {
        if stage != .active, nothingNew {
            stage = .settled
            return true
        }
        quietCheckEpoch = .max
        return false
    }

    /// Counts a folded tick (`quiet`: it measured nothing and shows no demand) and returns whether the slot is
    /// quiescent: more than `quiescentAfterTicks` quiet ticks in a row.
    @inline(__always)
    mutating func folded(quiet: Bool, quiescentAfterTicks: UInt32) -> Bool {
        quietTicks = quiet ? min(quietTicks, quiescentAfterTicks) &+ 1 : 0
        stage = .active
        return quietTicks > quiescentAfterTicks
    }

    /// Marks a quiescent slot settling when nothing in its fold still moves: no wait quantile stands (the window only
    /// decays, never back above one wait), its throttle watch lapsed, its average use is zero.
    @inline(__always)
    mutating func settleIfStill(waitQuantileStands: Bool, watchesThrottling: Bool, averageCpuCores: Double) {
        if !waitQuantileStands, !watchesThrottling, averageCpuCores == 0 { stage = .settling }
    }

    /// Whether the slot's solve triggers are skipped: it is settled and triggered nothing since `epoch` began, so its
    /// demand, what it was solved at and what it holds are as they were.
    @inline(__always)
    func skipsSolveChecks(epoch: UInt64) -> Bool { stage == .settled && quietCheckEpoch == epoch }

    /// Notes that the slot's solve triggers fired nothing in `epoch`; it skips them from then on while settled.
    @inline(__always)
    mutating func triggeredNothing(epoch: UInt64) {
        if stage == .settled { quietCheckEpoch = epoch }
    }

    /// Makes the slot fold again on its next tick and settle anew.
    mutating func wake() { stage = .active }
}
