import Pool

/// One tenant's forecaster for one resource: Holt level and damped trend, a slow level, additive seasonality for
/// each configured period, a time-of-day profile of error size, a calibrated headroom multiplier, CUSUM change
/// detection, and an online ensemble with the central service's prior.
///
/// Each `update` costs O(1) time and touches only storage allocated at `init` (the seasonal arrays are written in
/// place), so the tick never allocates. The whole state is this `Codable` struct: encode it to save, decode it to
/// resume exactly where it was.
///
/// The rule for the limit it proposes for the next step:
/// - three sources forecast the value: the fast model `level + φ·trend + season`, the slow model
///   `slowLevel + season`, and the reference: the prior (its level and season before the first value, then the
///   fast model with the prior's seasonal change in place of the local one), or the slow path of a
///   `TwoRateForecaster`.
///   Each is weighed by a power (`ensembleSharpness`) of the inverse of its smoothed squared error (online
///   ensemble), so the blend follows whichever source has lately been right; with the tenant's own prior, every
///   source starts with the prior's residual variance, with a class prior only the reference does (the local
///   models start at 0, or at the errors central learnt for the class: `SeasonalPrior.localModelErrors`). The
///   prior's reference, a variant of the fast model, shares the fast model's vote instead
///   of adding its own.
/// - with a prior, the next step's expected value is the blend with the prior's reference or the blend without it,
///   whichever has lately erred less one step ahead (`priorOneStepSquaredError`, `edgeOneStepSquaredError`): per
///   tenant and resource, the forecast errors decide whether the prior counts one step ahead. Longer horizons
///   always blend with the prior, which is where it helps (`Benchmarks/predict/PriorValue`).
/// - `atQuantile = expected + k·s·v[slot]`, where `s` is the smoothed absolute error of the blend (rising fast,
///   falling slowly), `v[slot]` the error profile over the first seasonal period (errors are larger at some times
///   of day), and `k` the headroom multiplier that a `HeadroomController` steers so that the observed shortfall
///   rate equals the configured target.
/// - the change detector re-anchors both levels after a run of large errors of the slow model, measured in
///   `changeScale`: the same smoothed error as `s`, but started at 0 even with a prior, so a class's spread sets
///   the first headroom without hiding this tenant's own level shifts.
public struct Forecaster: Sendable, Hashable, Codable {
    public private(set) var configuration: ForecasterConfiguration
    /// The prior the local model starts from and is blended with; nil when there is none.
    public private(set) var prior: SeasonalPrior?

    /// Deseasonalised level of the fast model, in the resource's unit.
    public private(set) var level: Double = 0
    /// Change of the level per step.
    public private(set) var trend: Double = 0
    /// Deseasonalised level of the slow model.
    public private(set) var slowLevel: Double = 0
    /// Additive seasonal offsets for every period, one after another (`configuration.seasonalPeriods` order).
    public private(set) var seasonalOffsets: [Double]
    /// Relative size of the error at each slot of the first period (1 = average); empty without seasonality.
    public private(set) var volatilityProfile: [Double]
    /// Smoothed absolute forecast error (the error scale), in the resource's unit: sets the headroom. With a prior
    /// it starts at the prior's residual size; a tenant's own prior's start gives way fast (`ownPriorStartWeight`).
    public private(set) var errorScale: Double = 0
    /// The same smoothed absolute error, started at 0 whatever the prior: the unit of the change detector's
    /// errors, so that only this tenant's own errors decide when its level has shifted. Without a prior it equals
    /// `errorScale`.
    public private(set) var changeScale: Double = 0
    public private(set) var headroom: HeadroomController
    public private(set) var changeDetector = ChangeDetector()
    /// Smoothed squared errors of the fast model, the slow model and the reference: the ensemble's weights.
    public private(set) var fastSquaredError: Double = 0
    public private(set) var slowSquaredError: Double = 0
    public private(set) var referenceSquaredError: Double = 0
    /// Smoothed squared one-step errors of the blend without the prior's reference (the edge's own forecast) and of
    /// the blend with it; the smaller picks the one-step forecast. With a prior the edge's starts at the prior's
    /// residual variance and the prior's at 0, so the blend with the prior holds until the edge's own forecast has
    /// proved better.
    public private(set) var edgeOneStepSquaredError: Double = 0
    public private(set) var priorOneStepSquaredError: Double = 0

    /// Time of the last accepted value, seconds since the Unix epoch; nil before the first one.
    public private(set) var lastSeconds: Double?
    /// Index of the step holding the last accepted value: floor(lastSeconds / stepSeconds). Seasonal slots are this
    /// index modulo each period, so a slot is the same time of day (of period) whatever the start.
    public private(set) var lastStep: Int = 0
    /// The slot of `lastStep` in each seasonal period (kept so that a step costs an increment, not a division).
    public private(set) var lastSlots: [Int]
    /// Accepted values so far.
    public private(set) var updateCount: Int = 0
    /// Values refused because they were NaN or infinite, or not later than the previous one.
    public private(set) var rejectedCount: Int = 0
    /// Negative values, counted and taken as zero (usage is never negative; a wrapped counter can make it look so).
    public private(set) var clampedCount: Int = 0
    /// Level shifts the change detector found.
    public private(set) var changeCount: Int = 0

    /// A forecaster with no history. With a prior (for a new tenant: its class prior), it forecasts the prior's
    /// level and season until the first value, starts from the prior's trend and residual size, and weighs the
    /// prior against its own models by their errors. The first value replaces the prior's level (the tenant's own
    /// value says more about it than its class does). The prior's seasonal shape is not copied into the local
    /// offsets: it enters only as the ensemble's reference, so a shape that does not carry over to this tenant's
    /// days loses its weight instead of biasing the local models (on the Azure traces, copying it made 1- and
    /// 12-step forecasts 8-11% worse; `Benchmarks/predict/PriorValue`).
    public init(configuration: ForecasterConfiguration = ForecasterConfiguration(), prior: SeasonalPrior? = nil) {
        precondition(configuration.problems.isEmpty, "invalid ForecasterConfiguration: \(configuration.problems)")
        self.configuration = configuration
        // The level rate central found best for this tenant's own history (its own prior only) replaces the
        // configuration's: on the Azure traces every strongly seasonal tenant's 1-step forecast then beat
        // edge-only's (`Benchmarks/central/RESULTS.md`, session 7). Set once here: no per-update cost.
        if let rate = prior?.usableFastLevelRate { self.configuration.levelRate = rate }
        self.prior = prior
        let firstPeriod = configuration.seasonalPeriods.first ?? 0
        seasonalOffsets = [Double](repeating: 0, count: configuration.seasonalPeriods.reduce(0, +))
        volatilityProfile = [Double](repeating: 1, count: firstPeriod)
        lastSlots = [Int](repeating: 0, count: configuration.seasonalPeriods.count)
        headroom = HeadroomController(
            multiplier: HeadroomController.initialMultiplier(shortfallTarget: configuration.shortfallTarget))
        if let prior {
            level = prior.level
            slowLevel = prior.level
            trend = prior.trend
            // A mean absolute error is about 0.8 standard deviations for normal errors.
            errorScale = 0.8 * prior.residualStandardDeviation
            let variance = prior.residualStandardDeviation * prior.residualStandardDeviation
            // With the tenant's own prior the local models copy it at first, so they are believed no better than
            // the prior. A class prior (no history of this tenant) says nothing about how well this tenant's own
            // models will do: they start at 0, as without a prior, and the prior's reference earns its weight
            // against them (from the class's spread, on the Azure traces new tenants' 1-step forecasts were 0.2%
            // worse than without a prior; `Benchmarks/central/RESULTS.md`, session 6).
            // When central learnt how the local models forecast the class's tenants one step ahead, they start
            // from that instead, so a new tenant's first forecasts lean toward the model that served its class
            // best (on the Azure traces new tenants' 1-step forecasts became 0.2% better than edge-only's instead of
            // a tie, their 12-step ones 0.1% worse than from 0; `Benchmarks/central/RESULTS.md`, session 7).
            let localVariance = prior.isTenantsOwn ? variance : 0
            (fastSquaredError, slowSquaredError, referenceSquaredError) = (localVariance, localVariance, variance)
            if let learnt = prior.localModelErrors, learnt.isUsable {
                (fastSquaredError, slowSquaredError) = (learnt.fast * variance, learnt.slow * variance)
            }
            edgeOneStepSquaredError = variance
        }
    }

    /// Folds in the value measured at `atSeconds` (seconds since the Unix epoch). Non-finite values and values
    /// that are not later than the previous one are refused and counted; negative values count as zero. A gap of
    /// several steps advances the level along the trend. Time is only ever what the caller passes.
    public mutating func update(value: Double, atSeconds seconds: Double) {
        update(value: value, atSeconds: seconds,
               reference: priorReference(atSeconds: seconds, trendSteps: configuration.trendDamping), pairedWithFast: true)
    }

    /// As `update(value:atSeconds:)`, blending with `reference`, another source's forecast of this value (the slow
    /// path, or a prior the caller evaluates), instead of the stored prior; NaN for no reference. The reference
    /// votes on its own, beside the fast and slow models.
    public mutating func update(value: Double, atSeconds seconds: Double, reference: Double) {
        update(value: value, atSeconds: seconds, reference: reference, pairedWithFast: false)
    }

    /// `pairedWithFast`: the reference is a variant of the fast model (the stored prior's reference) and shares
    /// its vote (see `blend`).
    private mutating func update(value rawValue: Double, atSeconds seconds: Double, reference: Double, pairedWithFast: Bool) {
        guard rawValue.isFinite, seconds.isFinite, lastSeconds.map({ seconds > $0 }) ?? true else {
            rejectedCount &+= 1
            return
        }
        var value = rawValue
        if value < 0 {
            clampedCount &+= 1
            value = 0
        }
        // Clamped so that an absurd time cannot trap the conversion; 2^52 steps is far beyond any real clock.
        let step = Int(min(max((seconds / configuration.stepSeconds).rounded(.down), -0x1p52), 0x1p52))
        let consecutive = lastSeconds != nil && step == lastStep + 1
        for index in lastSlots.indices {
            let period = configuration.seasonalPeriods[index]
            if consecutive {
                let next = lastSlots[index] + 1
                lastSlots[index] = next == period ? 0 : next
            } else {
                lastSlots[index] = Self.slot(step: step, period: period)
            }
        }
        guard lastSeconds != nil else {
            level = value - seasonalSum(ahead: 0)
            slowLevel = level
            lastSeconds = seconds
            lastStep = step
            updateCount = 1
            return
        }
        // Two values within one step count as consecutive steps; a gap of several steps advances the level.
        let stepsSince = max(1, step - lastStep)
        if stepsSince > 1 { level += trend * Double(stepsSince - 1) }

        // What this step was forecast to be, and the limit that forecast set.
        let season = seasonalSum(ahead: 0)
        let fast = level + configuration.trendDamping * trend + season
        let slow = slowLevel + season
        let (edgeExpected, priorExpected) = Self.blend(
            fast: fast, slow: slow, reference: reference, pairedWithFast: pairedWithFast, fastSquaredError: fastSquaredError,
            slowSquaredError: slowSquaredError, referenceSquaredError: referenceSquaredError,
            sharpness: configuration.ensembleSharpness)
        // The one-step choice between the two blends, which learns only where there is one: with the stored prior's
        // reference.
        let choosing = pairedWithFast && reference.isFinite
        let expected = choosing && edgeLeadsOneStep ? edgeExpected : priorExpected
        let slot = volatilityProfile.isEmpty ? -1 : lastSlots[0]
        let volatility = slot < 0 ? 1 : volatilityProfile[slot]
        let limit = expected + headroom.multiplier * errorScale * volatility
        let error = value - expected

        headroom.observe(
            shortfall: value > limit, target: configuration.shortfallTarget, gain: configuration.headroomGain)

        // Error size (`smoothedScale`); the profile keeps the shape of error size over the day, normalised around 1.
        let absoluteError = abs(error)
        let inverseScale = errorScale > 0 ? 1 / errorScale : 0
        if errorScale > 0, slot >= 0 {
            let relative = min(absoluteError * inverseScale, 10)
            volatilityProfile[slot] = Self.flushingTiny(
                volatilityProfile[slot] + configuration.volatilityProfileRate * (relative - volatilityProfile[slot]))
        }
        let inverseVolatility = 1 / max(volatility, 0.1)
        let inverseChangeScale = changeScale > 0 ? 1 / changeScale : 0
        let scaledError = absoluteError * inverseVolatility
        let starting = updateCount < 3
        // The tenant's own prior's start gives way to its own errors (`ownPriorStartWeight`).
        let ownPriorRate = prior?.isTenantsOwn == true
            ? Self.ownPriorStartWeight / (Double(updateCount) + Self.ownPriorStartWeight) : 0
        errorScale = Self.smoothedScale(
            errorScale, scaledError: scaledError, starting: starting, minimumRate: ownPriorRate, configuration: configuration)
        changeScale = Self.smoothedScale(
            changeScale, scaledError: scaledError, starting: starting, minimumRate: 0, configuration: configuration)

        let ensemble = configuration.ensembleRate
        fastSquaredError = Self.flushingTiny(fastSquaredError + ensemble * ((value - fast) * (value - fast) - fastSquaredError))
        slowSquaredError = Self.flushingTiny(slowSquaredError + ensemble * ((value - slow) * (value - slow) - slowSquaredError))
        if reference.isFinite {
            referenceSquaredError = Self.flushingTiny(
                referenceSquaredError + ensemble * ((value - reference) * (value - reference) - referenceSquaredError))
        }
        if choosing {
            let rate = Self.oneStepChoiceRate
            let (edgeError, priorError) = (value - edgeExpected, value - priorExpected)
            edgeOneStepSquaredError = Self.flushingTiny(
                edgeOneStepSquaredError + rate * (edgeError * edgeError - edgeOneStepSquaredError))
            priorOneStepSquaredError = Self.flushingTiny(
                priorOneStepSquaredError + rate * (priorError * priorError - priorOneStepSquaredError))
        }

        // CUSUM on the slow model's errors, clipped to ±3 scales: a lone spike is not a level shift, a run of large
        // errors is, and the slow level would take many periods to get there on its own.
        // Its unit is `changeScale`, not `errorScale`: a class prior's residual size is the spread of a whole
        // class and, as the unit, hid this tenant's own level shifts for hours (1-step forecasts of new tenants 1%
        // worse than without a prior on the Azure traces).
        let slowError = (value - slow) * inverseChangeScale * inverseVolatility
        let standardised = changeScale > 0 ? min(max(slowError, -3), 3) : 0
        let deseasonalised = value - season
        if changeDetector.observe(
            standardisedError: standardised, drift: configuration.changeDrift,
            threshold: configuration.changeThreshold)
        {
            // A level shift: re-anchor both levels on the value at once instead of converging over many steps.
            // The trend stays: on a ramp the slow level lags for ever, and re-anchoring it must not stop the ramp.
            changeCount &+= 1
            level = deseasonalised
            slowLevel = deseasonalised
        } else {
            let previousLevel = level
            let rate = configuration.levelRate
            level = Self.flushingTiny(rate * deseasonalised + (1 - rate) * (level + configuration.trendDamping * trend))
            trend = Self.flushingTiny(configuration.trendRate * (level - previousLevel)
                + (1 - configuration.trendRate) * configuration.trendDamping * trend)
            slowLevel = Self.flushingTiny(slowLevel + configuration.slowLevelRate * (deseasonalised - slowLevel))
        }
        updateSeasonalOffsets(season: season, residual: value - level)

        lastSeconds = seconds
        lastStep = step
        updateCount &+= 1
    }

    /// The forecast for the step after the last accepted value: expected value, demand at the configured quantile
    /// (never below zero), and a confidence that falls as the recent error grows relative to the expected value.
    public func forecast() -> Forecast {
        return forecast(reference: priorReference(
            atSeconds: (lastSeconds ?? 0) + configuration.stepSeconds, trendSteps: configuration.trendDamping),
                        pairedWithFast: true)
    }

    /// As `forecast()`, blending with `reference` (another source's forecast of the next value, NaN for none)
    /// instead of the prior; the reference votes on its own.
    public func forecast(reference: Double) -> Forecast {
        forecast(reference: reference, pairedWithFast: false)
    }

    private func forecast(reference: Double, pairedWithFast: Bool) -> Forecast {
        guard lastSeconds != nil else {
            guard prior != nil || reference.isFinite else { return .zero }
            let expected = max(0, reference.isFinite ? reference : level)
            return Forecast(
                expected: expected, atQuantile: max(0, expected + headroom.multiplier * errorScale), confidence: 0)
        }
        let season = seasonalSum(ahead: 1)
        let expected = max(0, blend(
            fast: level + configuration.trendDamping * trend + season, slow: slowLevel + season, reference: reference,
            pairedWithFast: pairedWithFast, oneStep: true))
        var volatility = 1.0
        if !volatilityProfile.isEmpty {
            let next = lastSlots[0] + 1
            volatility = volatilityProfile[next == volatilityProfile.count ? 0 : next]
        }
        let atQuantile = max(0, expected + headroom.multiplier * errorScale * volatility)
        let confidence = expected > 0 ? max(0, 1 - errorScale / expected) : (errorScale == 0 ? 1 : 0)
        return Forecast(expected: expected, atQuantile: atQuantile, confidence: confidence)
    }

    /// The point forecast `steps` steps after the last accepted value: the ensemble of the fast and slow models
    /// (damped trend, seasonality) and the prior's expected value at that time, weighed as in `forecast()`; one step
    /// ahead it is `forecast().expected`, further ahead always the blend with the prior.
    public func expected(stepsAhead steps: Int) -> Double {
        var trendSum = 0.0
        var damping = configuration.trendDamping
        for _ in 0..<max(steps, 1) {
            trendSum += damping
            damping *= configuration.trendDamping
        }
        let season = seasonalSum(ahead: steps)
        let reference = priorReference(
            atSeconds: (lastSeconds ?? 0) + Double(steps) * configuration.stepSeconds, trendSteps: trendSum)
        return max(0, blend(
            fast: level + trendSum * trend + season, slow: slowLevel + season, reference: reference, pairedWithFast: true,
            oneStep: steps <= 1))
    }

    /// Changes the share of demand allowed to exceed the limit (a tenant moved to another class); the headroom
    /// controller keeps its state and walks to the new target.
    public mutating func setShortfallTarget(_ target: Double) {
        precondition(target > 0 && target < 1, "shortfall target must be within (0, 1), got \(target)")
        configuration.shortfallTarget = target
    }

    /// The prior's forecast of the value at a moment `trendSteps` (damped) steps of trend after the last value:
    /// its own level and season before any value is seen; after that the fast model's forecast with the prior's
    /// seasonal change since the last value in place of the local one: `level + trendSteps·trend + season(last) +
    /// prior(t) − prior(last)`. A prior's level is a class median, or the tenant's level when central last fitted
    /// it: both go stale; the shape of the day, learnt over weeks, may not. NaN without a prior.
    @inline(__always)
    private func priorReference(atSeconds seconds: Double, trendSteps: Double) -> Double {
        guard let prior else { return .nan }
        guard let lastSeconds else { return prior.expected(atSeconds: seconds) }
        return level + trendSteps * trend + seasonalSum(ahead: 0)
            + prior.expected(atSeconds: seconds) - prior.expected(atSeconds: lastSeconds)
    }

    /// Inverse-squared-error weighting of the sources, sharpened; a NaN reference takes no part. One step ahead
    /// (`oneStep`) the stored prior's reference (`pairedWithFast`) takes part unless `edgeLeadsOneStep`; further
    /// ahead, and another source's reference, always.
    private func blend(fast: Double, slow: Double, reference: Double, pairedWithFast: Bool, oneStep: Bool) -> Double {
        let (withoutReference, withReference) = Self.blend(
            fast: fast, slow: slow, reference: reference, pairedWithFast: pairedWithFast,
            fastSquaredError: fastSquaredError, slowSquaredError: slowSquaredError,
            referenceSquaredError: referenceSquaredError, sharpness: configuration.ensembleSharpness)
        return oneStep && pairedWithFast && edgeLeadsOneStep ? withoutReference : withReference
    }

    /// The one-step choice: whether the blend without the stored prior's reference (the edge's own forecast) has
    /// lately erred less one step ahead than the blend with it, and so is the one-step forecast.
    private var edgeLeadsOneStep: Bool { edgeOneStepSquaredError < priorOneStepSquaredError }

    /// Smoothing of `edgeOneStepSquaredError` and `priorOneStepSquaredError`: a memory of about 50 steps (four
    /// hours of 5-minute steps). On the Azure traces the two blends' one-step errors differ by a few percent at
    /// most, so the choice is noisy at any memory; at 0.03 and 0.005 the warm edge's slack at 1% shortfall was
    /// 1.018 and 1.013 of edge-only's, at 0.02 1.004 (`Benchmarks/central/RESULTS.md`, 2026-11-30 session 6).
    static let oneStepChoiceRate = 0.02

    /// The blend without the reference (the local models alone) and with it. Static, so that calling it from
    /// `update` does not copy the whole forecaster. Each source weighs (smallest squared error / its squared
    /// error)^sharpness: at most 1, so no power overflows.
    ///
    /// A reference `pairedWithFast` (the stored prior's: the fast model with the prior's seasonal change in place
    /// of the local one) is a variant of the fast model, so the two share one vote: the larger of their weights,
    /// split between them by weight. Counted as two voters they outvoted the slow level whenever they agreed, which
    /// made 1-step forecasts 1-2.5% worse than without a prior on the Azure traces, with or without the prior's
    /// shape (`Benchmarks/predict/PriorValue`). Another source's reference (a slow path) votes on its own.
    @inline(__always)
    private static func blend(fast: Double, slow: Double, reference: Double, pairedWithFast: Bool, fastSquaredError: Double,
                              slowSquaredError: Double, referenceSquaredError: Double, sharpness: Int)
        -> (withoutReference: Double, withReference: Double)
    {
        // The floor keeps a source that has been exactly right from taking an infinite weight.
        let floor = 1e-12
        let hasReference = reference.isFinite
        var best = min(fastSquaredError, slowSquaredError)
        if hasReference { best = min(best, referenceSquaredError) }
        best += floor
        let fastRatio = best / (fastSquaredError + floor)
        let slowRatio = best / (slowSquaredError + floor)
        let referenceRatio = hasReference ? best / (referenceSquaredError + floor) : 0
        var (fastWeight, slowWeight, referenceWeight) = (fastRatio, slowRatio, referenceRatio)
        var power = 1
        while power < sharpness {
            fastWeight *= fastRatio
            slowWeight *= slowRatio
            referenceWeight *= referenceRatio
            power += 1
        }
        // Both local weights can underflow to 0 only when the reference is far better than both; then the better one.
        let localWeight = fastWeight + slowWeight
        let local = localWeight > 0 ? (fastWeight * fast + slowWeight * slow) / localWeight
            : (fastSquaredError <= slowSquaredError ? fast : slow)
        guard hasReference else { return (local, local) }
        guard pairedWithFast else {
            return (local, (fastWeight * fast + slowWeight * slow + referenceWeight * reference)
                / (fastWeight + slowWeight + referenceWeight))
        }
        let fastPair = fastWeight + referenceWeight
        let pairForecast = fastPair > 0 ? (fastWeight * fast + referenceWeight * reference) / fastPair : fast
        let pairWeight = max(fastWeight, referenceWeight)
        return (local, (pairWeight * pairForecast + slowWeight * slow) / (pairWeight + slowWeight))
    }

    /// How fast the headroom's start from the tenant's own prior (0.8 × its one-step uncertainty over the fitted
    /// days) gives way to the tenant's own errors: after n values the error scale moves toward the error at least at
    /// w / (n + w), so the start's share falls about as n^-w (w = 1 would be a plain running mean with the start as
    /// one error) instead of 0.99^n at the rule's fall rate. That uncertainty is the tenant's past, not its present:
    /// on the Azure traces vm_1650226 changed by 0.99 points a step over its 14 fitted days and by 0.46 on the last
    /// of them, and its first-day limits needed 3.8% more slack than edge-only ones at 5% shortfall. With w = 0.5
    /// the two strongly seasonal tenants' first-day slack@5% went from 1.003 to 0.944 of edge-only's, the first
    /// week's from 1.003 to 0.990, the 40 seen VMs' stayed 0.939 (w = 1: 0.959, w = 0.25: 0.937 but the seasonal
    /// first day 0.962). A class prior's start is left to the rule: new tenants' slack@5% was 0.970 of edge-only's
    /// with it, 0.947 without (`Benchmarks/central/RESULTS.md`, session 6, h4).
    static let ownPriorStartWeight = 0.5

    /// `scale` moved toward a new absolute error (already divided by the slot's volatility): fast while the first
    /// values come, then rising fast after a large error and falling slowly after small ones, never at less than
    /// `minimumRate`; no single error counts for more than four scales (one spike must not blow the headroom up for
    /// hours). Static, as `blend`.
    @inline(__always)
    private static func smoothedScale(
        _ scale: Double, scaledError: Double, starting: Bool, minimumRate: Double, configuration: ForecasterConfiguration
    ) -> Double {
        let error = scale > 0 ? min(scaledError, 4 * scale) : scaledError
        let rate = max(minimumRate, starting ? 0.5 : (error > scale ? configuration.scaleRiseRate : configuration.scaleFallRate))
        return Self.flushingTiny(scale + rate * (error - scale))
    }

    /// The value, or 0 when it is within 2^-900 (about 1e-271) of 0. Smoothing an error that has become exactly 0
    /// (perfectly flat usage, an idle tenant) decays a state value geometrically into the subnormal range, where it sticks
    /// (x·(1 − rate) rounds back to x) and every operation on it is many times slower on x86. 2^-900 is far below
    /// any amount in any unit and far above the subnormals (below 2^-1022), so no step of smoothing crosses from
    /// one to the other.
    @inline(__always)
    static func flushingTiny(_ value: Double) -> Double {
        abs(value) < 0x1p-900 ? 0 : value
    }

    /// Slot of a step within a period (steps counted from the Unix epoch; the modulo is never negative).
    @inline(__always)
    private static func slot(step: Int, period: Int) -> Int {
        let remainder = step % period
        return remainder < 0 ? remainder + period : remainder
    }

    /// Sum of every period's offset at the step `ahead` steps after the last accepted one.
    private func seasonalSum(ahead: Int) -> Double {
        var sum = 0.0
        var offset = 0
        for index in lastSlots.indices {
            let period = configuration.seasonalPeriods[index]
            var slot = lastSlots[index] + ahead
            if slot >= period { slot = ahead == 1 ? slot - period : slot % period }
            sum += seasonalOffsets[offset + slot]
            offset += period
        }
        return sum
    }

    /// Moves each period's offset at the current slot toward the part of the residual the other periods do not
    /// explain (`season` is the sum of all periods' offsets at this step). While the first periods are being seen
    /// the rate is 1/(cycles + 2), so one period gives a usable shape.
    private mutating func updateSeasonalOffsets(season: Double, residual: Double) {
        var offset = 0
        for index in lastSlots.indices {
            let period = configuration.seasonalPeriods[index]
            let position = offset + lastSlots[index]
            var rate = configuration.seasonalRate
            if updateCount < 8 * period { rate = max(rate, 1 / (Double(updateCount / period) + 2)) }
            let own = residual - (season - seasonalOffsets[position])
            seasonalOffsets[position] = Self.flushingTiny(seasonalOffsets[position] + rate * (own - seasonalOffsets[position]))
            offset += period
        }
    }
}
