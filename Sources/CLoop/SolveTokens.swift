/// The solves that moving forecasts may trigger now: a bucket that fills by one per minimum solve interval up to
/// `burst`, and every solve takes one, so a burst of moves solves at once and a steady stream at most once per
/// interval. Other causes (a table change, a missed objective, a saturated quota) solve whatever it holds.
struct SolveTokens: Equatable {
    private(set) var tokens = 0.0
    private var refilledAtNanoseconds: UInt64 = 0

    static let burst = 4.0

    /// Whether a moving forecast may trigger a solve now.
    var mayTriggerSolve: Bool { tokens >= 1 }

    /// Adds what the time since the last refill earned (`intervalNanoseconds` 0: no limit, each refill earns a whole burst).
    mutating func refill(nowNanoseconds: UInt64, intervalNanoseconds: UInt64) {
        let earned = intervalNanoseconds == 0 ? Self.burst : Double(nowNanoseconds &- refilledAtNanoseconds) / Double(intervalNanoseconds)
        tokens = min(Self.burst, tokens + earned)
        refilledAtNanoseconds = nowNanoseconds
    }

    /// A solve ran: it takes a token (the bucket may go below zero when a solve it did not allow ran).
    mutating func take() { tokens -= 1 }
}
