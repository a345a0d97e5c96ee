import Foundation
import Pool
import Testing
@testable import Predict

/// A deterministic noise source (64-bit LCG + Box–Muller), so every test sees the same series.
struct Noise {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func uniform() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return (Double(state >> 11) + 0.5) / Double(1 << 53)
    }
    mutating func gaussian() -> Double {
        (-2 * log(uniform())).squareRoot() * cos(2 * Double.pi * uniform())
    }
}

/// Saves `original`, restores it, and checks that the copy is equal, encodes to the same bytes, and continues
/// identically to the last bit (forecast, 12-step point forecast, seasonal offsets) over the `(value, seconds)` that
/// `next` gives for each step of `steps`.
func expectExactRestore(of original: Forecaster, continuing steps: Range<Int>,
                        next: (Int) -> (value: Double, seconds: Double)) throws {
    var forecaster = original
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    let saved = try encoder.encode(forecaster)
    var restored = try JSONDecoder().decode(Forecaster.self, from: saved)
    #expect(restored == forecaster)
    #expect(try encoder.encode(restored) == saved)
    for step in steps {
        let (value, seconds) = next(step)
        forecaster.update(value: value, atSeconds: seconds)
        restored.update(value: value, atSeconds: seconds)
        #expect(forecaster.forecast().atQuantile.bitPattern == restored.forecast().atQuantile.bitPattern)
        #expect(forecaster.expected(stepsAhead: 12).bitPattern == restored.expected(stepsAhead: 12).bitPattern)
    }
    #expect(restored.seasonalOffsets.map(\.bitPattern) == forecaster.seasonalOffsets.map(\.bitPattern))
}

@Suite struct ForecasterTests {
    let plain = ForecasterConfiguration(stepSeconds: 1, seasonalPeriods: [])

    @Test func constantConverges() {
        var forecaster = Forecaster(configuration: plain)
        for step in 0..<500 { forecaster.update(value: 10, atSeconds: Double(step)) }
        let forecast = forecaster.forecast()
        #expect(abs(forecast.expected - 10) < 1e-9)
        #expect(forecast.atQuantile >= 10 && forecast.atQuantile < 10.01)
        #expect(forecast.confidence > 0.999)
    }

    @Test func rampIsTrackedWithItsTrend() {
        var configuration = plain
        configuration.trendDamping = 1
        configuration.trendRate = 0.1
        var forecaster = Forecaster(configuration: configuration)
        for step in 0..<400 { forecaster.update(value: 5 + 0.5 * Double(step), atSeconds: Double(step)) }
        #expect(abs(forecaster.trend - 0.5) < 0.01)
        // The next value is 5 + 0.5·400 = 205.
        #expect(abs(forecaster.expected(stepsAhead: 1) - 205) < 0.5)
        #expect(abs(forecaster.expected(stepsAhead: 10) - 209.5) < 1)
    }

    @Test func sineYieldsItsSeasonalShape() {
        let period = 24
        var configuration = ForecasterConfiguration(stepSeconds: 1, seasonalPeriods: [period])
        configuration.levelRate = 0.1
        var forecaster = Forecaster(configuration: configuration)
        func sine(_ step: Int) -> Double { 10 * sin(2 * Double.pi * Double(step) / Double(period)) }
        for step in 0..<(period * 60) { forecaster.update(value: 50 + sine(step), atSeconds: Double(step)) }
        // Additive seasonality is defined up to a constant shared with the level: compare the shape around its
        // mean, and the level plus that mean with the wave's centre.
        let mean = forecaster.seasonalOffsets.reduce(0, +) / Double(period)
        for slot in 0..<period {
            #expect(abs(forecaster.seasonalOffsets[slot] - mean - sine(slot)) < 0.3, "slot \(slot)")
        }
        #expect(abs(forecaster.level + mean - 50) < 0.3)
        // One step ahead the forecast follows the wave.
        let next = period * 60
        #expect(abs(forecaster.forecast().expected - (50 + sine(next))) < 0.5)
    }

    @Test func stepChangeIsDetectedAndFollowed() {
        var forecaster = Forecaster(configuration: plain)
        var noise = Noise(seed: 7)
        for step in 0..<300 { forecaster.update(value: 10 + noise.gaussian(), atSeconds: Double(step)) }
        let changesBefore = forecaster.changeCount
        var detectedAfter: Int?
        for step in 300..<320 {
            forecaster.update(value: 30 + noise.gaussian(), atSeconds: Double(step))
            if detectedAfter == nil, forecaster.changeCount > changesBefore { detectedAfter = step - 300 + 1 }
        }
        #expect(detectedAfter.map { $0 <= 4 } == true, "detected after \(String(describing: detectedAfter)) steps")
        #expect(abs(forecaster.forecast().expected - 30) < 2)
    }

    @Test(arguments: [0.05, 0.2, 0.01])
    func requestedQuantileHoldsOnStationaryNoise(shortfallTarget: Double) {
        var configuration = plain
        configuration.shortfallTarget = shortfallTarget
        var forecaster = Forecaster(configuration: configuration)
        var noise = Noise(seed: 42)
        var shortfalls = 0
        var scored = 0
        for step in 0..<20_000 {
            let value = 50 + 5 * noise.gaussian()
            if step >= 1_000 {
                scored += 1
                if value > forecaster.forecast().atQuantile { shortfalls += 1 }
            }
            forecaster.update(value: value, atSeconds: Double(step))
        }
        let rate = Double(shortfalls) / Double(scored)
        #expect(abs(rate - shortfallTarget) <= 0.02, "shortfall rate \(rate) for target \(shortfallTarget)")
    }

    @Test func stateSurvivesSaveAndRestoreBitForBit() throws {
        var forecaster = Forecaster(configuration: ForecasterConfiguration(stepSeconds: 300, seasonalPeriods: [288, 12]))
        var noise = Noise(seed: 3)
        for step in 0..<1_000 {
            let value = 20 + 5 * sin(Double(step) / 30) + noise.gaussian()
            forecaster.update(value: value, atSeconds: 1_700_000_000 + Double(step) * 300)
        }
        try expectExactRestore(of: forecaster, continuing: 1_000..<1_100) { step in
            (20 + noise.gaussian(), 1_700_000_000 + Double(step) * 300)
        }
    }

    @Test func nonFiniteValuesAreRefusedAndLeaveTheStateAlone() {
        var forecaster = Forecaster(configuration: plain)
        for step in 0..<50 { forecaster.update(value: 10, atSeconds: Double(step)) }
        let before = forecaster
        forecaster.update(value: .nan, atSeconds: 50)
        forecaster.update(value: .infinity, atSeconds: 51)
        forecaster.update(value: -.infinity, atSeconds: 52)
        forecaster.update(value: 10, atSeconds: .nan)
        forecaster.update(value: 10, atSeconds: 10)  // not later than the last value
        #expect(forecaster.rejectedCount == 5)
        var expected = before
        for _ in 0..<5 { expected.update(value: .nan, atSeconds: 0) }
        #expect(forecaster == expected)
        #expect(forecaster.forecast() == before.forecast())
    }

    @Test func negativeValuesCountAsZero() {
        var forecaster = Forecaster(configuration: plain)
        for step in 0..<100 { forecaster.update(value: -3, atSeconds: Double(step)) }
        #expect(forecaster.clampedCount == 100)
        #expect(forecaster.forecast().expected == 0)
        #expect(forecaster.forecast().atQuantile >= 0)
    }

    @Test func missingStepsAdvanceAlongTheTrend() {
        var configuration = plain
        configuration.trendDamping = 1
        configuration.trendRate = 0.1
        var forecaster = Forecaster(configuration: configuration)
        for step in 0..<300 { forecaster.update(value: Double(step), atSeconds: Double(step)) }
        // Ten steps go missing; the value at step 310 is on the same line and the forecast stays on it.
        forecaster.update(value: 310, atSeconds: 310)
        #expect(abs(forecaster.expected(stepsAhead: 1) - 311) < 0.5)
        #expect(abs(forecaster.trend - 1) < 0.05)
    }

    @Test func newTenantStartsFromItsClassPrior() {
        let profile = (0..<24).map { 5 * sin(2 * Double.pi * Double($0) / 24) }
        let prior = SeasonalPrior(resource: .cpu, stepSeconds: 1, level: 40, seasonalProfile: profile,
                                  residualStandardDeviation: 2, historySteps: 10_000)
        let configuration = ForecasterConfiguration(stepSeconds: 1, seasonalPeriods: [24])
        let fresh = Forecaster(configuration: configuration, prior: prior)
        // Before any value, the next step is the first one after the epoch.
        #expect(abs(fresh.forecast().expected - prior.expected(atSeconds: 1)) < 1e-9)
        #expect(fresh.forecast().confidence == 0)
        // The prior's shape enters only as the ensemble's reference, never copied into the local offsets.
        #expect(fresh.seasonalOffsets.allSatisfy { $0 == 0 })

        // On a series that follows the prior, the blend beats a forecaster that starts without the prior over the
        // first period: the prior knows where the wave goes next (without the reference, or with one that ignored
        // the local level, both made the same errors).
        var withPrior = fresh
        var without = Forecaster(configuration: configuration)
        var noise = Noise(seed: 11)
        var errorWith = 0.0
        var errorWithout = 0.0
        for step in 0..<24 {
            let value = prior.expected(atSeconds: Double(step)) + 0.5 * noise.gaussian()
            if step > 0 {
                errorWith += abs(value - withPrior.forecast().expected)
                errorWithout += abs(value - without.forecast().expected)
            }
            withPrior.update(value: value, atSeconds: Double(step))
            without.update(value: value, atSeconds: Double(step))
        }
        #expect(errorWith < 0.85 * errorWithout, "with prior \(errorWith), without \(errorWithout)")
    }

    @Test func classPriorsSpreadDoesNotHideALevelShift() {
        // A class prior whose residual size (200) is the spread of a whole class, on a tenant with noise of 0.3 whose
        // level jumps from 10 to 20 after 30 steps. The headroom keeps part of the prior's scale (its first steps
        // move it fast toward the local errors, then it falls slowly); the change detector measures errors in the
        // tenant's own scale and re-anchors the slow level within a few steps. In the headroom's scale (about 30
        // by then) each error of 10 is below the drift: the shift would never be noticed.
        let prior = SeasonalPrior(resource: .cpu, stepSeconds: 1, level: 15, residualStandardDeviation: 200,
                                  historySteps: 10_000)
        var forecaster = Forecaster(configuration: ForecasterConfiguration(stepSeconds: 1, seasonalPeriods: []),
                                    prior: prior)
        var noise = Noise(seed: 5)
        for step in 0..<30 { forecaster.update(value: 10 + 0.3 * noise.gaussian(), atSeconds: Double(step)) }
        let changesBefore = forecaster.changeCount
        #expect(forecaster.changeScale < 1)
        #expect(forecaster.errorScale > 10, "the headroom still carries the prior's spread")
        for step in 30..<35 { forecaster.update(value: 20 + 0.3 * noise.gaussian(), atSeconds: Double(step)) }
        #expect(forecaster.changeCount == changesBefore + 1)
        #expect(abs(forecaster.slowLevel - 20) < 1, "slow level \(forecaster.slowLevel)")
    }

    @Test func withoutAPriorTheChangeScaleIsTheErrorScale() {
        var forecaster = Forecaster(configuration: ForecasterConfiguration(stepSeconds: 1, seasonalPeriods: [12]))
        var noise = Noise(seed: 6)
        for step in 0..<200 {
            forecaster.update(value: 10 + Double(step / 50) * 5 + noise.gaussian(), atSeconds: Double(step))
            #expect(forecaster.changeScale == forecaster.errorScale)
        }
    }

    @Test func blendFollowsTheSourceWithSmallerErrors() {
        // A prior that is wrong by 20 loses its weight once the local models have seen the real level.
        let prior = SeasonalPrior(resource: .cpu, stepSeconds: 1, level: 30, residualStandardDeviation: 1,
                                  historySteps: 100)
        var forecaster = Forecaster(configuration: plain, prior: prior)
        var noise = Noise(seed: 5)
        for step in 0..<300 { forecaster.update(value: 10 + 0.2 * noise.gaussian(), atSeconds: Double(step)) }
        #expect(abs(forecaster.forecast().expected - 10) < 0.5)
    }

    @Test func priorWhoseShapeDoesNotCarryOverLosesItsWeight() {
        // The class has a daily swing of ±10; this tenant is flat at 20. After a few periods the prior's shape
        // no longer moves the forecast: at every slot of the next period it is the tenant's level.
        let profile = (0..<24).map { 10 * sin(2 * Double.pi * Double($0) / 24) }
        let prior = SeasonalPrior(resource: .cpu, stepSeconds: 1, level: 50, seasonalProfile: profile,
                                  residualStandardDeviation: 1, historySteps: 1_000)
        var forecaster = Forecaster(
            configuration: ForecasterConfiguration(stepSeconds: 1, seasonalPeriods: [24]), prior: prior)
        var noise = Noise(seed: 9)
        for step in 0..<(24 * 10) { forecaster.update(value: 20 + 0.3 * noise.gaussian(), atSeconds: Double(step)) }
        for step in (24 * 10)..<(24 * 11) {
            #expect(abs(forecaster.forecast().expected - 20) < 1, "step \(step)")
            forecaster.update(value: 20 + 0.3 * noise.gaussian(), atSeconds: Double(step))
        }
    }

    /// Replays `steps` steps of `value` into a forecaster with `prior` (plain configuration, 1-second steps), then
    /// over the next `scored` steps counts the steps whose one-step forecast is the blend without the prior's
    /// reference (the edge's own), and sums the absolute one-step errors of the forecast and of the edge's own blend.
    func oneStepChoice(prior: SeasonalPrior, steps: Int, scored: Int, value: (Int) -> Double)
        -> (edgeSteps: Int, forecastError: Double, edgeError: Double)
    {
        var forecaster = Forecaster(configuration: plain, prior: prior)
        for step in 0..<steps { forecaster.update(value: value(step), atSeconds: Double(step)) }
        var (edgeSteps, forecastError, edgeError) = (0, 0.0, 0.0)
        for step in steps..<(steps + scored) {
            let (forecast, edge) = (forecaster.forecast().expected, forecaster.forecast(reference: .nan).expected)
            if forecast == edge { edgeSteps += 1 }
            #expect(forecaster.expected(stepsAhead: 1) == forecast)
            forecastError += abs(value(step) - forecast)
            edgeError += abs(value(step) - edge)
            forecaster.update(value: value(step), atSeconds: Double(step))
        }
        return (edgeSteps, forecastError, edgeError)
    }

    @Test func priorThatErrsOneStepAheadLosesItsSayThereMostOfTheTime() {
        // The tenant is flat at 50 with noise 1; the prior says it swings by ±5 over 24 steps. Its reference errs
        // more than the local models (smoothed squared error about 2.6 against the fast model's 1.8) but keeps a
        // share of the ensemble. The blend with it errs only about 1% more one step ahead than the blend without,
        // so over a memory of 50 steps noise sometimes reverses the comparison: after 400 values the one-step
        // forecast is the edge's own blend, exactly, at 568 of the next 1,000 steps (seeds 21-26 give 540-892).
        // Before the choice existed it carried the prior's share at every step (0 of 1,000).
        let profile = (0..<24).map { 5 * sin(2 * Double.pi * Double($0) / 24) }
        let prior = SeasonalPrior(resource: .cpu, stepSeconds: 1, level: 50, seasonalProfile: profile,
                                  residualStandardDeviation: 1, historySteps: 1_000)
        var noise = Noise(seed: 21)
        let values = (0..<1_400).map { _ in 50 + noise.gaussian() }
        let result = oneStepChoice(prior: prior, steps: 400, scored: 1_000) { values[$0] }
        #expect(result.edgeSteps > 500, "edge's forecast at \(result.edgeSteps) of 1,000 steps")
    }

    @Test func priorThatIsRightOneStepAheadKeepsItsSay() {
        // A prior that zigzags by ±3 from one second to the next, on a tenant that does: the local models (no
        // season) cannot follow it, the prior's reference can, and the one-step forecast keeps blending with it.
        let prior = SeasonalPrior(resource: .cpu, stepSeconds: 1, level: 50, seasonalProfile: [3, -3],
                                  residualStandardDeviation: 1, historySteps: 1_000)
        var noise = Noise(seed: 22)
        let values = (0..<600).map { 50 + ($0 % 2 == 0 ? 3 : -3) + noise.gaussian() }
        let result = oneStepChoice(prior: prior, steps: 400, scored: 200) { values[$0] }
        #expect(result.edgeSteps == 0)
        #expect(result.forecastError < 0.5 * result.edgeError, "\(result.forecastError) vs \(result.edgeError)")
    }

    @Test func classPriorsSpreadDoesNotHoldBackTheTenantsOwnModels() {
        // A new tenant's class prior (no history of this tenant: historySteps 0) with a class spread of 20; the
        // tenant climbs by 2 a step. Its own fast model soon errs far less than its slow level, and the forecast
        // follows it at once: the class's spread is not taken as the error of this tenant's own models.
        let classPrior = SeasonalPrior(resource: .cpu, stepSeconds: 1, level: 50, residualStandardDeviation: 20,
                                       historySteps: 0)
        var forecaster = Forecaster(configuration: plain, prior: classPrior)
        #expect(forecaster.fastSquaredError == 0 && forecaster.slowSquaredError == 0)
        #expect(forecaster.referenceSquaredError == 400)
        var edgeOnly = Forecaster(configuration: plain)
        for step in 0..<10 {
            forecaster.update(value: 10 + 2 * Double(step), atSeconds: Double(step))
            edgeOnly.update(value: 10 + 2 * Double(step), atSeconds: Double(step))
        }
        // As close to the next value (30) as a forecaster without the prior, 28.0 (starting the local models at the
        // class's spread left it 0.9 further behind, at 27.1).
        let (forecast, edge) = (forecaster.forecast().expected, edgeOnly.forecast().expected)
        #expect(abs(forecast - edge) < 0.1, "forecast \(forecast), edge-only \(edge)")
        // The tenant's own prior (history behind it) starts its models at its error size, believed no better.
        let ownPrior = SeasonalPrior(resource: .cpu, stepSeconds: 1, level: 50, residualStandardDeviation: 20,
                                     historySteps: 4_032)
        let own = Forecaster(configuration: plain, prior: ownPrior)
        #expect(own.fastSquaredError == 400 && own.slowSquaredError == 400 && own.referenceSquaredError == 400)
    }

    @Test func classPriorsLearntLocalErrorsLeanANewTenantsEnsembleFromItsFirstValues() {
        // Central learnt that its members are forecast far better by the fast model than by the slow level; the new
        // tenant climbs by 2 a step. After two values the fast model (level 11.8) and the slow level (10.1) have
        // erred alike, so without what central learnt the blend sits between them; with it, on the fast model.
        let learnt = LocalModelErrors(fast: 0.1, slow: 10)
        let plainClass = SeasonalPrior(resource: .cpu, stepSeconds: 1, level: 50, residualStandardDeviation: 20,
                                       historySteps: 0)
        var leaning = plainClass
        leaning.localModelErrors = learnt
        var fromLearnt = Forecaster(configuration: plain, prior: leaning)
        var fromClass = Forecaster(configuration: plain, prior: plainClass)
        #expect(fromLearnt.fastSquaredError == 40 && fromLearnt.slowSquaredError == 4_000)
        #expect(fromLearnt.referenceSquaredError == 400)
        for step in 0..<2 {
            fromLearnt.update(value: 10 + 2 * Double(step), atSeconds: Double(step))
            fromClass.update(value: 10 + 2 * Double(step), atSeconds: Double(step))
        }
        let fastModel = fromLearnt.level + plain.trendDamping * fromLearnt.trend
        let (learntForecast, classForecast) = (fromLearnt.forecast().expected, fromClass.forecast().expected)
        #expect(abs(learntForecast - fastModel) < 0.05, "forecast \(learntForecast), fast model \(fastModel)")
        #expect(learntForecast - classForecast > 0.5, "learnt \(learntForecast), without \(classForecast)")
        // Values no forecaster may start from are ignored: the start is as without them.
        for unusable in [LocalModelErrors(fast: .nan, slow: 1), LocalModelErrors(fast: 1, slow: -1)] {
            var prior = plainClass
            prior.localModelErrors = unusable
            let forecaster = Forecaster(configuration: plain, prior: prior)
            #expect(forecaster.fastSquaredError == 0 && forecaster.slowSquaredError == 0)
        }
    }

    @Test func ownPriorsLevelRateReplacesTheConfigurationsForThatTenant() {
        // The configuration's fast model moves half way to a new value; central found that this tenant's history is
        // forecast best by following the newest value (rate 1). After a step from 50 to 80 the fast model is at
        // 80 and the one-step forecast, which blends it, moves further than with the configuration's rate.
        var configuration = plain
        configuration.levelRate = 0.5
        var ownPrior = SeasonalPrior(resource: .cpu, stepSeconds: 1, level: 50, residualStandardDeviation: 20,
                                     historySteps: 4_032)
        var following = ownPrior
        following.fastLevelRate = 1
        var fast = Forecaster(configuration: configuration, prior: following)
        var configured = Forecaster(configuration: configuration, prior: ownPrior)
        #expect(fast.configuration.levelRate == 1 && configured.configuration.levelRate == 0.5)
        for step in 0..<11 {
            let value = step < 10 ? 50.0 : 80.0
            fast.update(value: value, atSeconds: Double(step))
            configured.update(value: value, atSeconds: Double(step))
        }
        #expect(abs(fast.level - 80) < 1, "level \(fast.level)")
        #expect(configured.level < 70, "level \(configured.level)")
        let (moved, held) = (fast.forecast().expected, configured.forecast().expected)
        #expect(moved - held > 5, "with the prior's rate \(moved), with the configuration's \(held)")
        // A rate no forecaster may follow (0 freezes the level, NaN stays in the state) is ignored.
        for unusable in [0, -0.5, 1.5, .nan, .infinity] {
            ownPrior.fastLevelRate = unusable
            #expect(Forecaster(configuration: configuration, prior: ownPrior).configuration.levelRate == 0.5)
        }
    }

    @Test func ownPriorsHeadroomStartGivesWayToTheTenantsErrors() {
        // The tenant's own prior says it errs by 20 (its past; headroom start 16); now it alternates 50 ± 1 and an
        // edge-only forecaster's error scale is 1.18 after 40 values. The own prior's start gives way at
        // 0.5 / (n + 0.5) a step: 2.37 (2.0x edge-only's); falling by the rule's 1% a step it was 3.88 (3.3x).
        let ownPrior = SeasonalPrior(resource: .cpu, stepSeconds: 1, level: 50, residualStandardDeviation: 20,
                                     historySteps: 4_032)
        let classPrior = SeasonalPrior(resource: .cpu, stepSeconds: 1, level: 50, residualStandardDeviation: 20,
                                       historySteps: 0)
        var own = Forecaster(configuration: plain, prior: ownPrior)
        var fromClass = Forecaster(configuration: plain, prior: classPrior)
        var edgeOnly = Forecaster(configuration: plain)
        #expect(own.errorScale == 16 && fromClass.errorScale == 16)
        for step in 0..<40 {
            let value = step % 2 == 0 ? 51.0 : 49.0
            own.update(value: value, atSeconds: Double(step))
            fromClass.update(value: value, atSeconds: Double(step))
            edgeOnly.update(value: value, atSeconds: Double(step))
        }
        let (ownRatio, classRatio) = (own.errorScale / edgeOnly.errorScale, fromClass.errorScale / edgeOnly.errorScale)
        #expect(ownRatio < 2.5, "own prior \(own.errorScale), edge-only \(edgeOnly.errorScale)")
        // A class prior's start (the class's spread) falls by the rule as before (3.77, 3.2x): new tenants keep
        // their wide first limits.
        #expect(classRatio > 2.8, "class prior \(fromClass.errorScale), edge-only \(edgeOnly.errorScale)")
    }

    @Test func beforeAnyOneStepErrorThePriorCounts() {
        // No value has been compared with a forecast yet: the one-step forecast is the blend with the prior's
        // reference (as before per-tenant choice existed), not the edge's own.
        let prior = SeasonalPrior(resource: .cpu, stepSeconds: 1, level: 50, seasonalProfile: [3, -3],
                                  residualStandardDeviation: 1, historySteps: 1_000)
        var forecaster = Forecaster(configuration: plain, prior: prior)
        forecaster.update(value: 53, atSeconds: 0)
        #expect(forecaster.forecast().expected != forecaster.forecast(reference: .nan).expected)
        #expect(forecaster.priorOneStepSquaredError < forecaster.edgeOneStepSquaredError)
    }

    @Test func idleUsageLeavesNoSubnormalState() {
        // The agent's tick forecaster (1 ms steps) with a 5-minute prior, on a tenant that stays idle: every error
        // becomes exactly 0 and the level, trend, smoothed errors and error scale decay geometrically toward 0.
        // Without flushing they stick in the subnormal range (below 2^-1022), where arithmetic is many times slower.
        let profile = (0..<288).map { 0.3 * sin(2 * Double.pi * Double($0) / 288) }
        let prior = SeasonalPrior(resource: .cpu, stepSeconds: 300, level: 0.6, trend: 1e-3, seasonalProfile: profile,
                                  residualStandardDeviation: 0.1, historySteps: 4_032)
        var forecaster = Forecaster(
            configuration: ForecasterConfiguration(stepSeconds: 0.001, seasonalPeriods: [], levelRate: 0.05, trendRate: 0.01),
            prior: prior)
        // 100 s of ticks inside one 5-minute step of the prior (1.8e9 is a multiple of 300), so the prior's
        // reference never moves either.
        for tick in 0..<100_000 { forecaster.update(value: 0, atSeconds: 1_800_000_000 + Double(tick) * 0.001) }
        let state = [forecaster.level, forecaster.slowLevel, forecaster.trend, forecaster.fastSquaredError,
                     forecaster.slowSquaredError, forecaster.referenceSquaredError, forecaster.errorScale,
                     forecaster.changeScale, forecaster.edgeOneStepSquaredError, forecaster.priorOneStepSquaredError]
        #expect(state.allSatisfy { $0 == 0 }, "\(state)")
        #expect(forecaster.forecast().expected == 0)
    }

    @Test func stateWithAPriorSurvivesSaveAndRestoreBitForBit() throws {
        let profile = (0..<288).map { 3 * cos(2 * Double.pi * Double($0) / 288) }
        let prior = SeasonalPrior(resource: .memory, stepSeconds: 300, level: 12, trend: 0.001,
                                  seasonalProfile: profile, residualStandardDeviation: 1.5, historySteps: 4_032)
        var configuration = ForecasterConfiguration(stepSeconds: 300, seasonalPeriods: [288])
        configuration.ensembleSharpness = 2
        var forecaster = Forecaster(configuration: configuration, prior: prior)
        var noise = Noise(seed: 4)
        for step in 0..<700 {
            forecaster.update(value: 15 + noise.gaussian(), atSeconds: 1_700_000_100 + Double(step) * 300)
        }
        try expectExactRestore(of: forecaster, continuing: 700..<800) { step in
            (15 + noise.gaussian(), 1_700_000_100 + Double(step) * 300)
        }
    }

    @Test func configurationSavedBeforeSharpnessExistedDecodesWithPlainWeights() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var object = try #require(JSONSerialization.jsonObject(with: encoder.encode(ForecasterConfiguration()))
            as? [String: Any])
        #expect(object.removeValue(forKey: "ensembleSharpness") as? Int == 4)
        let old = try JSONDecoder().decode(
            ForecasterConfiguration.self, from: JSONSerialization.data(withJSONObject: object))
        var expected = ForecasterConfiguration()
        expected.ensembleSharpness = 1
        #expect(old == expected)
    }

    @Test func invalidConfigurationNamesTheProblem() {
        var configuration = ForecasterConfiguration()
        configuration.levelRate = 1.5
        configuration.seasonalPeriods = [1]
        #expect(configuration.problems.contains { $0.contains("levelRate") })
        #expect(configuration.problems.contains { $0.contains("seasonal period") })
        configuration.ensembleSharpness = 0
        #expect(configuration.problems.contains { $0.contains("ensembleSharpness") })
        #expect(ForecasterConfiguration().problems.isEmpty)
    }
}

@Suite struct TwoRateForecasterTests {
    @Test func slowPathAggregatesAndGuidesTheFastPath() {
        // Ticks of 1 s; coarse steps of 60 s; the level follows a 10-step (600 s) square wave between 10 and 30.
        let fast = ForecasterConfiguration(stepSeconds: 1, seasonalPeriods: [])
        let slow = ForecasterConfiguration(stepSeconds: 60, seasonalPeriods: [10])
        var forecaster = TwoRateForecaster(fast: fast, slow: slow)
        var noise = Noise(seed: 1)
        func level(_ second: Int) -> Double { (second / 60) % 10 < 5 ? 10 : 30 }
        for second in 0..<(600 * 30) {
            forecaster.update(value: level(second) + noise.gaussian(), atSeconds: Double(second))
        }
        // 300 coarse steps went to the slow path (the last one is still being aggregated).
        #expect(forecaster.slow.updateCount == 299)
        // The slow path learnt the square wave: its reference for the current coarse step is near that level.
        let now = 600 * 30 - 1
        #expect(abs(forecaster.slowReference - level(now)) < 2)
        let forecast = forecaster.forecast()
        #expect(abs(forecast.expected - level(now)) < 1)
        #expect(forecast.atQuantile > forecast.expected)
    }

    @Test func roundTripsThroughCodable() throws {
        var forecaster = TwoRateForecaster(
            fast: ForecasterConfiguration(stepSeconds: 0.001, seasonalPeriods: []),
            slow: ForecasterConfiguration(stepSeconds: 1, seasonalPeriods: [60]))
        for tick in 0..<5_000 { forecaster.update(value: Double(tick % 700) / 100, atSeconds: Double(tick) / 1000) }
        let restored = try JSONDecoder().decode(TwoRateForecaster.self, from: JSONEncoder().encode(forecaster))
        #expect(restored == forecaster)
    }
}
