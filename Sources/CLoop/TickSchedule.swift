/// When the next tick is due, on absolute deadlines: a late tick does not shift the ones after it, and ticks that
/// could not run at all are counted as missed instead of being run in a burst.
///
/// A tick whose work ran past the next deadline skips it (`finished`): the loop then always sleeps before its next
/// tick, so a real-time tick thread that cannot keep up gives its core back between ticks instead of running them
/// back to back.
public struct TickSchedule: Sendable, Equatable {
    public let periodNanoseconds: UInt64
    /// The deadline the loop is sleeping towards.
    public private(set) var deadlineNanoseconds: UInt64
    /// Ticks skipped because the loop woke after their deadline had already passed as well.
    public private(set) var missedTicks: UInt64 = 0

    public init(periodNanoseconds: UInt64, startNanoseconds: UInt64) {
        precondition(periodNanoseconds > 0, "a tick period must be positive")
        self.periodNanoseconds = periodNanoseconds
        deadlineNanoseconds = startNanoseconds + periodNanoseconds
    }

    /// Called when the loop woke for the current deadline at `nowNanoseconds`: returns how late the wake-up was and
    /// moves the deadline to the next one still in the future, counting those that were skipped.
    public mutating func woke(atNanoseconds nowNanoseconds: UInt64) -> (latenessNanoseconds: UInt64, skipped: UInt64) {
        let lateness = nowNanoseconds > deadlineNanoseconds ? nowNanoseconds - deadlineNanoseconds : 0
        return (lateness, advance(pastNanoseconds: nowNanoseconds))
    }

    /// Called when a tick's work ended at `nowNanoseconds`: skips (and counts) the deadlines that passed meanwhile.
    public mutating func finished(atNanoseconds nowNanoseconds: UInt64) -> UInt64 {
        guard deadlineNanoseconds <= nowNanoseconds else { return 0 }
        let behind = (nowNanoseconds - deadlineNanoseconds) / periodNanoseconds + 1
        deadlineNanoseconds += behind * periodNanoseconds
        missedTicks += behind
        return behind
    }

    private mutating func advance(pastNanoseconds nowNanoseconds: UInt64) -> UInt64 {
        deadlineNanoseconds += periodNanoseconds
        guard deadlineNanoseconds <= nowNanoseconds else { return 0 }
        let behind = (nowNanoseconds - deadlineNanoseconds) / periodNanoseconds + 1
        deadlineNanoseconds += behind * periodNanoseconds
        missedTicks += behind
        return behind
    }
}
