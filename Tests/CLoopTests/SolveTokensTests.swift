import Testing

@testable import CLoop

/// `SolveTokens` alone: one token per interval, at most `burst`, one taken per solve.
struct SolveTokensTests {
    let interval: UInt64 = 5_000_000

    @Test func theBucketFillsByOnePerIntervalUpToTheBurst() {
        var bucket = SolveTokens()
        bucket.refill(nowNanoseconds: 0, intervalNanoseconds: interval)
        #expect(!bucket.mayTriggerSolve)
        bucket.refill(nowNanoseconds: interval / 2, intervalNanoseconds: interval)
        #expect(!bucket.mayTriggerSolve)
        bucket.refill(nowNanoseconds: interval, intervalNanoseconds: interval)
        #expect(bucket.mayTriggerSolve)
        bucket.take()
        #expect(!bucket.mayTriggerSolve)
        bucket.refill(nowNanoseconds: 100 * interval, intervalNanoseconds: interval)
        #expect(bucket.tokens == SolveTokens.burst)
        for _ in 0..<Int(SolveTokens.burst) {
            #expect(bucket.mayTriggerSolve)
            bucket.take()
        }
        #expect(!bucket.mayTriggerSolve)
    }

    /// Solves it did not allow still take a token: the debt is paid before a moving forecast solves again.
    @Test func solvesOfOtherCausesRunTheBucketIntoDebt() {
        var bucket = SolveTokens()
        bucket.take()
        bucket.take()
        bucket.refill(nowNanoseconds: 2 * interval, intervalNanoseconds: interval)
        #expect(bucket.tokens == 0)
        #expect(!bucket.mayTriggerSolve)
    }

    /// No minimum interval: every refill earns a whole burst, so a tick after a solve may trigger again.
    @Test func noIntervalEarnsAWholeBurstOnEveryRefill() {
        var bucket = SolveTokens()
        bucket.refill(nowNanoseconds: 1, intervalNanoseconds: 0)
        #expect(bucket.tokens == SolveTokens.burst)
        bucket.take()
        bucket.take()
        bucket.refill(nowNanoseconds: 1, intervalNanoseconds: 0)
        #expect(bucket.tokens == SolveTokens.burst)
    }
}
