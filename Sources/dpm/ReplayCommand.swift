import ArgumentParser
import Foundation
import Predict
import Replay

/// `dpm replay`: measures a limit-setting method on recorded usage traces.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a usage trace against a forecasting method and print slack, shortfall and error figures.",
        discussion: """
            Before each step is revealed the method sets a limit L; steps after the warm-up are scored:
            slack = Σmax(L−u,0)/ΣL, shortfall_rate = share of steps with u > L, shortfall_volume = Σmax(u−L,0)/Σu,
            mase_1 and mase_12 = mean absolute point-forecast error at 1 and 12 steps over that of the naive forecast,
            ns_per_update = time of one observe + limit, measured in a separate pass.
            """
    )

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case table, json }

    @Option(help: "Trace file, or a directory of files (PlanetLab: one file per VM). .gz files are decompressed.")
    var trace: String

    @Option(help: "Trace layout: \(TraceFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: TraceFormatArgument

    @Option(help: "Replay only this column of a CSV trace (default: every value column is a series).")
    var column: String?

    @Option(help: "Method: \(ReplayMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method: ReplayMethod = .dpm

    @Option(help: "Safety margin fraction on top of the limit (vpa default 0.15; others 0; not used by dpm).")
    var margin: Double?

    @Option(help: "Target quantile: dpm's demand quantile (default 0.95), vpa's percentile (0.9), autopilot-p95's (0.95).")
    var quantile: Double?

    @Option(help: "autopilot-ml: cost of one overrun in units of one step of unit slack (default 10).")
    var overrunWeight: Double = 10

    @Flag(help: "dpm only: share the pooled shortfall target among the series by their error scale (ShortfallBudget), replaying them side by side; series must have equal length and step.")
    var poolBudget = false

    @Option(help: "Steps the method learns from before scoring starts (default 288: one day of 5-minute steps).")
    var warmup: Int = 288

    @Option(help: "Seconds per step when the trace does not say (default 300).")
    var stepSeconds: Double = 300

    @Option(name: .customLong("set"), help: "dpm forecaster setting NAME=VALUE (e.g. levelRate=0.5); repeatable.")
    var settings: [String] = []

    @Option(name: .customLong("format-out"), help: "Output: table or json.")
    var formatOut: OutputFormat = .table

    func validate() throws {
        if let quantile, !(quantile > 0 && quantile < 1) { throw ValidationError("--quantile must be within (0, 1)") }
        if let margin, !(margin > -1 && margin.isFinite) { throw ValidationError("--margin must be above -1") }
        if warmup < 0 { throw ValidationError("--warmup must not be negative") }
        if !(stepSeconds > 0) { throw ValidationError("--step-seconds must be positive") }
    }

    func run() throws {
        let reader = TraceReader(format: format.value, column: column, stepSeconds: stepSeconds)
        let series: [UsageSeries]
        do { series = try reader.read(path: trace) } catch { throw ValidationError(error.description) }
        let forecasterConfiguration = try dpmConfiguration()

        var results: [(name: String, score: ReplayScore)] = []
        var pooled = ReplayScore()
        if poolBudget {
            guard method == .dpm else { throw ValidationError("--pool-budget applies to --method dpm only") }
            guard let first = series.first, series.allSatisfy({
                $0.values.count == first.values.count && $0.stepSeconds == first.stepSeconds })
            else { throw ValidationError("--pool-budget needs series of equal length and step") }
            let scores = replayPooled(series, configuration: forecasterConfiguration, warmupSteps: warmup)
            for (item, var score) in zip(series, scores) {
                // Timing as without the budget: the budget is one multiply-divide per series and step.
                let timing = timeUpdates(item, method: ForecasterMethod(configuration: forecasterConfiguration))
                score.timedUpdates = timing.updates
                score.timedNanoseconds = timing.nanoseconds
                results.append((item.name, score))
                pooled.merge(score)
            }
            print(formatOut == .table ? table(results: results, pooled: pooled)
                                      : try json(results: results, pooled: pooled))
            return
        }
        let totalSteps = series.reduce(0) { $0 + $1.values.count }
        var doneSteps = 0
        var lastProgress = Date()
        let knobs = ReplayKnobs(margin: margin, quantile: quantile, overrunWeight: overrunWeight, warmupSteps: warmup,
                                forecaster: forecasterConfiguration)
        for item in series {
            let score = replay(item, method: method, knobs: knobs, timed: true)
            results.append((item.name, score))
            pooled.merge(score)
            doneSteps += item.values.count
            if totalSteps > 50_000, Date().timeIntervalSince(lastProgress) > 1 {
                lastProgress = Date()
                FileHandle.standardError.write(Data(
                    "replay: \(results.count)/\(series.count) series, \(doneSteps)/\(totalSteps) steps\n".utf8))
            }
        }
        switch formatOut {
        case .table: print(table(results: results, pooled: pooled))
        case .json: print(try json(results: results, pooled: pooled))
        }
    }

    /// The forecaster settings: the defaults, the step and quantile from the options, then every `--set`.
    private func dpmConfiguration() throws -> ForecasterConfiguration {
        var configuration = ForecasterConfiguration(stepSeconds: stepSeconds)
        configuration.shortfallTarget = 1 - (quantile ?? 0.95)
        do { return try configuration.applying(settings: settings) } catch {
            throw ValidationError("--set: \(error.description)")
        }
    }

    private func table(results: [(name: String, score: ReplayScore)], pooled: ReplayScore) -> String {
        func row(_ name: String, _ score: ReplayScore) -> String {
            let figures = [score.slack, score.shortfallRate, score.shortfallVolume, score.mase1, score.mase12,
                           score.nanosecondsPerUpdate]
                .map { String(format: "%10.4f", $0) }.joined(separator: " ")
            return name.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: " %6d ", score.steps)
                + figures
        }
        var lines = ["# method \(method.rawValue), warm-up \(warmup) steps, \(results.count) series",
                     "series".padding(toLength: 44, withPad: " ", startingAt: 0)
                        + "  steps      slack shortfall_rate shortfall_volume mase_1 mase_12 ns_per_update"]
        lines += results.map { row($0.name, $0.score) }
        lines.append(row("pooled", pooled))
        return lines.joined(separator: "\n")
    }

    private func json(results: [(name: String, score: ReplayScore)], pooled: ReplayScore) throws -> String {
        func figures(_ name: String, _ score: ReplayScore) -> [String: JSONValue] {
            ["series": .text(name), "steps": .number(Double(score.steps)),
             "missing_steps": .number(Double(score.missingSteps)), "slack": .number(score.slack),
             "shortfall_rate": .number(score.shortfallRate), "shortfall_volume": .number(score.shortfallVolume),
             "mase_1": .number(score.mase1), "mase_12": .number(score.mase12),
             "ns_per_update": .number(score.nanosecondsPerUpdate)]
        }
        let document: [String: JSONValue] = [
            "method": .text(method.rawValue), "warmup": .number(Double(warmup)),
            "series": .list(results.map { .object(figures($0.name, $0.score)) }),
            "pooled": .object(figures("pooled", pooled)),
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(document), as: UTF8.self)
    }
}

/// A JSON value for the report (numbers, text, lists, objects).
enum JSONValue: Encodable {
    case number(Double)
    case text(String)
    case list([JSONValue])
    case object([String: JSONValue])

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let value): try container.encode(value.isFinite ? value : 0)
        case .text(let value): try container.encode(value)
        case .list(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension ReplayMethod: ExpressibleByArgument {}

/// `TraceFormat` as a command-line argument.
struct TraceFormatArgument: ExpressibleByArgument {
    let value: TraceFormat
    init?(argument: String) {
        guard let format = TraceFormat(rawValue: argument) else { return nil }
        value = format
    }
    static var allValueStrings: [String] { TraceFormat.allCases.map(\.rawValue) }
}
