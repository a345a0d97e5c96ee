/// The settings of one `Forecaster`: its step, its seasonal periods, its smoothing rates and its headroom target.
///
/// Plain values so that a tenant class can carry them and the central service can tune them. The default rates
/// were chosen on the PlanetLab and Azure V1 traces (5-minute steps) by comparing slack at 1% and 5% shortfall
/// (`dpm replay --set NAME=VALUE` tries others; `swift run -c release predict-knob-scan` gives the figures).
public struct ForecasterConfiguration: Sendable, Hashable, Codable {
    /// Length of one step, in seconds: the spacing at which `Forecaster.update` is expected to be called.
    public var stepSeconds: Double
    /// Seasonal periods in steps (288 = one day of 5-minute steps); empty for no seasonality. Each period adds its
    /// own additive profile; their sum is the seasonal component.
    public var seasonalPeriods: [Int]
    /// Share of the demand that may exceed the limit (`1 − quantile`); the headroom controller steers the observed
    /// shortfall rate to it.
    public var shortfallTarget: Double
    /// Holt level smoothing (0...1): how fast the level follows the newest value.
    public var levelRate: Double
    /// Smoothing of the slow level (0...1), the ensemble's second local model: a near-mean that wins on series
    /// whose changes are noise rather than signal.
    public var slowLevelRate: Double
    /// Holt trend smoothing (0...1).
    public var trendRate: Double
    /// Damping of the trend per step (0...1); below 1 keeps a trend from running away over a gap.
    public var trendDamping: Double
    /// Seasonal smoothing (0...1) once a full period has been seen; the first periods learn faster.
    public var seasonalRate: Double
    /// Rate at which the error scale rises toward a larger error (five times the fall rate: a burst widens the
    /// headroom within a few steps, while a lone spike, clipped to four scales, moves it little).
    public var scaleRiseRate: Double
    /// Rate at which the error scale falls toward a smaller error (slow: calm must last before headroom shrinks).
    public var scaleFallRate: Double
    /// Rate of the time-of-day error profile: how much of each step's relative error enters its slot.
    public var volatilityProfileRate: Double
    /// Step of the headroom controller, in error scales: how far the multiplier moves on a shortfall.
    public var headroomGain: Double
    /// CUSUM drift allowance, in error scales: errors below it never accumulate.
    public var changeDrift: Double
    /// CUSUM decision threshold, in error scales: an accumulated error above it re-anchors the level.
    public var changeThreshold: Double
    /// Smoothing of the squared errors that weigh the fast model, the slow level and the prior (online ensemble).
    public var ensembleRate: Double
    /// Power of the ensemble's inverse squared errors (1...8): each source weighs (1/error²)^sharpness, so above
    /// 1 the blend leans harder on the source that has lately been best. On the 5-minute traces 4 left less slack
    /// at equal shortfall than 1 (plain inverse-variance weights): on near-white-noise series the fast model, which
    /// repeats the noise, then drops out of the blend instead of keeping a third of the weight.
    public var ensembleSharpness: Int

    public init(
        stepSeconds: Double = 300,
        seasonalPeriods: [Int] = [288],
        shortfallTarget: Double = 0.05,
        levelRate: Double = 0.9,
        slowLevelRate: Double = 0.05,
        trendRate: Double = 0.02,
        trendDamping: Double = 0.9,
        seasonalRate: Double = 0.1,
        scaleRiseRate: Double = 0.05,
        scaleFallRate: Double = 0.01,
        volatilityProfileRate: Double = 0.05,
        headroomGain: Double = 0.05,
        changeDrift: Double = 0.5,
        changeThreshold: Double = 6,
        ensembleRate: Double = 0.05,
        ensembleSharpness: Int = 4
    ) {
        self.stepSeconds = stepSeconds
        self.seasonalPeriods = seasonalPeriods
        self.shortfallTarget = shortfallTarget
        self.levelRate = levelRate
        self.slowLevelRate = slowLevelRate
        self.trendRate = trendRate
        self.trendDamping = trendDamping
        self.seasonalRate = seasonalRate
        self.scaleRiseRate = scaleRiseRate
        self.scaleFallRate = scaleFallRate
        self.volatilityProfileRate = volatilityProfileRate
        self.headroomGain = headroomGain
        self.changeDrift = changeDrift
        self.changeThreshold = changeThreshold
        self.ensembleRate = ensembleRate
        self.ensembleSharpness = ensembleSharpness
    }

    /// The problems that make a configuration unusable, in words a person can act on; empty when it is valid.
    public var problems: [String] {
        var found: [String] = []
        func unit(_ name: String, _ value: Double) {
            if !(value >= 0 && value <= 1) { found.append("\(name) must be within 0...1, got \(value)") }
        }
        if !(stepSeconds > 0 && stepSeconds.isFinite) { found.append("stepSeconds must be positive, got \(stepSeconds)") }
        for period in seasonalPeriods where period < 2 { found.append("a seasonal period must be at least 2 steps, got \(period)") }
        if !(shortfallTarget > 0 && shortfallTarget < 1) {
            found.append("shortfallTarget must be within (0, 1), got \(shortfallTarget)")
        }
        unit("levelRate", levelRate)
        unit("slowLevelRate", slowLevelRate)
        unit("trendRate", trendRate)
        unit("trendDamping", trendDamping)
        unit("seasonalRate", seasonalRate)
        unit("scaleRiseRate", scaleRiseRate)
        unit("scaleFallRate", scaleFallRate)
        unit("volatilityProfileRate", volatilityProfileRate)
        unit("ensembleRate", ensembleRate)
        if !(headroomGain > 0 && headroomGain.isFinite) { found.append("headroomGain must be positive, got \(headroomGain)") }
        if !(changeDrift >= 0 && changeDrift.isFinite) { found.append("changeDrift must be non-negative, got \(changeDrift)") }
        if !(1...8).contains(ensembleSharpness) {
            found.append("ensembleSharpness must be within 1...8, got \(ensembleSharpness)")
        }
        if !(changeThreshold > 0) { found.append("changeThreshold must be positive, got \(changeThreshold)") }
        return found
    }
}

extension ForecasterConfiguration {
    enum CodingKeys: String, CodingKey {
        case stepSeconds, seasonalPeriods, shortfallTarget, levelRate, slowLevelRate, trendRate, trendDamping
        case seasonalRate, scaleRiseRate, scaleFallRate, volatilityProfileRate, headroomGain, changeDrift
        case changeThreshold, ensembleRate, ensembleSharpness
    }

    /// Decodes a saved configuration; one saved before `ensembleSharpness` existed gets 1, the weighting it was
    /// saved with, so a restored forecaster continues exactly as it would have.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            stepSeconds: try container.decode(Double.self, forKey: .stepSeconds),
            seasonalPeriods: try container.decode([Int].self, forKey: .seasonalPeriods),
            shortfallTarget: try container.decode(Double.self, forKey: .shortfallTarget),
            levelRate: try container.decode(Double.self, forKey: .levelRate),
            slowLevelRate: try container.decode(Double.self, forKey: .slowLevelRate),
            trendRate: try container.decode(Double.self, forKey: .trendRate),
            trendDamping: try container.decode(Double.self, forKey: .trendDamping),
            seasonalRate: try container.decode(Double.self, forKey: .seasonalRate),
            scaleRiseRate: try container.decode(Double.self, forKey: .scaleRiseRate),
            scaleFallRate: try container.decode(Double.self, forKey: .scaleFallRate),
            volatilityProfileRate: try container.decode(Double.self, forKey: .volatilityProfileRate),
            headroomGain: try container.decode(Double.self, forKey: .headroomGain),
            changeDrift: try container.decode(Double.self, forKey: .changeDrift),
            changeThreshold: try container.decode(Double.self, forKey: .changeThreshold),
            ensembleRate: try container.decode(Double.self, forKey: .ensembleRate),
            ensembleSharpness: try container.decodeIfPresent(Int.self, forKey: .ensembleSharpness) ?? 1)
    }
}
