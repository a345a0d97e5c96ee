import Predict

/// A `NAME=VALUE` forecaster setting that could not be applied, with the words a person needs to fix it.
public struct ForecasterSettingError: Error, CustomStringConvertible {
    public var description: String
}

extension ForecasterConfiguration {
    /// Names of the rates and thresholds `applying(settings:)` accepts, besides `seasonalPeriods` and
    /// `ensembleSharpness`.
    static var settingKeyPaths: [String: WritableKeyPath<ForecasterConfiguration, Double>] { [
        "levelRate": \.levelRate, "slowLevelRate": \.slowLevelRate, "trendRate": \.trendRate,
        "trendDamping": \.trendDamping, "seasonalRate": \.seasonalRate, "scaleRiseRate": \.scaleRiseRate,
        "scaleFallRate": \.scaleFallRate, "volatilityProfileRate": \.volatilityProfileRate,
        "headroomGain": \.headroomGain, "changeDrift": \.changeDrift, "changeThreshold": \.changeThreshold,
        "ensembleRate": \.ensembleRate,
    ] }

    /// This configuration with each `NAME=VALUE` applied in order (`seasonalPeriods=288:12`, `levelRate=0.5`);
    /// throws when a setting is malformed or unknown, or the result is not a valid configuration.
    public func applying(settings: [String]) throws(ForecasterSettingError) -> ForecasterConfiguration {
        var configuration = self
        for setting in settings {
            let parts = setting.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ForecasterSettingError(description: "\(setting): expected NAME=VALUE") }
            let (name, text) = (parts[0], parts[1])
            if name == "seasonalPeriods" {
                var periods: [Int] = []
                for part in text.split(separator: ":") {
                    guard let period = Int(part) else {
                        throw ForecasterSettingError(description: "\(setting): bad period '\(part)'")
                    }
                    periods.append(period)
                }
                configuration.seasonalPeriods = periods
                continue
            }
            if name == "ensembleSharpness" {
                guard let power = Int(text) else {
                    throw ForecasterSettingError(description: "\(setting): '\(text)' is not a whole number")
                }
                configuration.ensembleSharpness = power
                continue
            }
            guard let value = Double(text) else {
                throw ForecasterSettingError(description: "\(setting): '\(text)' is not a number")
            }
            guard let keyPath = Self.settingKeyPaths[name] else {
                throw ForecasterSettingError(description: "\(setting): unknown setting; known: seasonalPeriods, ensembleSharpness, "
                                                 + Self.settingKeyPaths.keys.sorted().joined(separator: ", "))
            }
            configuration[keyPath: keyPath] = value
        }
        let problems = configuration.problems
        guard problems.isEmpty else {
            throw ForecasterSettingError(description: "forecaster settings: " + problems.joined(separator: "; "))
        }
        return configuration
    }
}
