import Testing

@testable import CLoop

/// `IdleSettling` alone: a slot quiet long enough settles, skips its fold and its solve triggers, and wakes up.
struct IdleSettlingTests {
    let after: UInt32 = 3

    /// Folds quiet ticks until the slot is quiescent (`after` + 1 of them) and lets it settle.
    func settledSlot() -> IdleSettling {
        var idle = IdleSettling()
        for _ in 0..<after { _ = idle.folded(quiet: true, quiescentAfterTicks: after) }
        _ = idle.folded(quiet: true, quiescentAfterTicks: after)
        idle.settleIfStill(waitQuantileStands: false, watchesThrottling: false, averageCpuCores: 0)
        #expect(idle.skipsFold(nothingNew: true) == true)
        return idle
    }

    @Test func aSlotIsQuiescentAfterItsQuietTicksAndSettlesOnlyWhenStill() {
        var idle = IdleSettling()
        for _ in 0..<after { #expect(idle.folded(quiet: true, quiescentAfterTicks: after) == false) }
        #expect(idle.folded(quiet: true, quiescentAfterTicks: after) == true)
        // The count saturates: quiescence holds however long the slot idles.
        for _ in 0..<10 { #expect(idle.folded(quiet: true, quiescentAfterTicks: after) == true) }
        #expect(idle.quietTicks == after + 1)
        // Something that still moves keeps the slot folding.
        idle.settleIfStill(waitQuantileStands: true, watchesThrottling: false, averageCpuCores: 0)
        #expect(idle.skipsFold(nothingNew: true) == false)
        idle.settleIfStill(waitQuantileStands: false, watchesThrottling: true, averageCpuCores: 0)
        #expect(idle.skipsFold(nothingNew: true) == false)
        idle.settleIfStill(waitQuantileStands: false, watchesThrottling: false, averageCpuCores: 1e-6)
        #expect(idle.skipsFold(nothingNew: true) == false)
        idle.settleIfStill(waitQuantileStands: false, watchesThrottling: false, averageCpuCores: 0)
        #expect(!idle.isSettled)
        #expect(idle.skipsFold(nothingNew: true) == true)
        #expect(idle.isSettled)
        // A measurement makes it fold again, and a tick with something to show ends the quiet count.
        #expect(idle.skipsFold(nothingNew: false) == false)
        #expect(idle.folded(quiet: false, quiescentAfterTicks: after) == false)
        #expect(idle.quietTicks == 0 && !idle.isSettled)
    }

    @Test func anActiveSlotNeverSkipsItsFold() {
        var idle = IdleSettling()
        #expect(idle.skipsFold(nothingNew: true) == false)
        #expect(!idle.isSettled)
    }

    /// A settled slot skips its solve triggers only within the epoch in which they last fired nothing.
    @Test func aSettledSlotSkipsItsSolveChecksUntilTheEpochMoves() {
        var idle = settledSlot()
        #expect(!idle.skipsSolveChecks(epoch: 7))
        idle.triggeredNothing(epoch: 7)
        #expect(idle.skipsSolveChecks(epoch: 7))
        #expect(!idle.skipsSolveChecks(epoch: 8))
        // A fold that runs (news for the slot) forgets it.
        #expect(idle.skipsFold(nothingNew: false) == false)
        #expect(!idle.skipsSolveChecks(epoch: 7))
        // A slot not settled records nothing.
        var active = IdleSettling()
        active.triggeredNothing(epoch: 7)
        #expect(active.quietCheckEpoch == .max)
    }

    @Test func aWokenSlotFoldsAgainAndSettlesAnew() {
        var idle = settledSlot()
        idle.wake()
        #expect(!idle.isSettled)
        #expect(idle.skipsFold(nothingNew: true) == false)
    }
}
