// Knob scan: each method's pooled slack at a pooled shortfall rate of 1% and 5%, on PlanetLab (warm-up 72 steps)
// and Azure V1 (warm-up 288 steps), and dpm's slack as a ratio of the best VPA/Autopilot baseline (goal ≤ 0.70).
//
// Every method is replayed (as `dpm replay` does, `Replay.replay(_:method:knobs:timed:)`) at each value of its knob;
// the (shortfall rate, slack) points are read at 1% and 5% by `ShortfallCurve` (linear interpolation; where several
// segments cross the target the lowest slack counts: a method at its best knob).
// A last row, "hindsight-constant", is a bound, not a method: for every series the one constant limit chosen
// knowing the whole scored future, the limits of all series chosen together to minimise pooled slack at the pooled
// shortfall rate (Lagrangian sweep). A series without forecastable structure cannot do much better than this.
// Cost per update is measured by PredictBenchmark, not here.
// Usage: swift run -c release predict-knob-scan [planetlab|azure ...] [--set NAME=VALUE ...] [--only PREFIX ...]
// (--only: scan only the methods whose label starts with PREFIX; the ratios then need a baseline among them.)
import Foundation
import Predict
import Replay

let traces = ProcessInfo.processInfo.environment["DATA"] ?? "/work/shared/data/traces"
var datasets: [String] = []
var settings: [String] = []
var only: [String] = []
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--set": if let setting = arguments.popFirst() { settings.append(setting) }
    case "--only": if let prefix = arguments.popFirst() { only.append(prefix) }
    default: datasets.append(argument)
    }
}
if datasets.isEmpty { datasets = ["planetlab", "azure"] }
let forecaster = try ForecasterConfiguration().applying(settings: settings)

/// One knob of one method: a label, the values scanned (each method's default among them), and how a value sets it.
struct Scan {
    var label: String
    var method: ReplayMethod
    var pooledBudget = false
    var values: [Double]
    var apply: @Sendable (inout ReplayKnobs, Double) -> Void
}

let quantiles = [0.8, 0.9, 0.93, 0.95, 0.97, 0.98, 0.985, 0.99, 0.993, 0.996]
let percentiles = [0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999]
let scans = [
    Scan(label: "dpm(quantile)", method: .dpm, values: quantiles) { $0.quantile = $1 },
    Scan(label: "dpm-pool-budget(quantile)", method: .dpm, pooledBudget: true, values: quantiles) { $0.quantile = $1 },
    Scan(label: "vpa(quantile)", method: .vpa, values: percentiles) { $0.quantile = $1 },
    Scan(label: "vpa(margin)", method: .vpa, values: [0, 0.15, 0.3, 0.5, 0.75, 1, 1.5, 2, 3]) { $0.margin = $1 },
    Scan(label: "autopilot-max(margin)", method: .autopilotMax, values: [-0.5, -0.3, -0.2, -0.1, 0, 0.1, 0.2, 0.4]) {
        $0.margin = $1
    },
    Scan(label: "autopilot-p95(quantile)", method: .autopilotP95, values: percentiles) { $0.quantile = $1 },
    Scan(label: "autopilot-avg(margin)", method: .autopilotAvg, values: [0, 0.25, 0.5, 1, 1.5, 2, 3, 4, 6]) {
        $0.margin = $1
    },
    Scan(label: "autopilot-ml(overrun-weight)", method: .autopilotML,
         values: [1, 3, 10, 30, 100, 300, 1000, 3000, 10000]) { $0.overrunWeight = $1 },
    Scan(label: "seasonal-naive(margin)", method: .seasonalNaive, values: [0, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5]) {
        $0.margin = $1
    },
    Scan(label: "static-peak(margin)", method: .staticPeak, values: [-0.5, -0.3, -0.2, -0.1, 0, 0.1, 0.25, 0.5, 1]) {
        $0.margin = $1
    },
]

/// The hindsight bound's points: for each Lagrange multiplier λ, every series takes the constant limit (one of its
/// own scored values) minimising slack + λ·shortfall steps; pooled slack and shortfall rate over all series.
func hindsightConstantCurve(_ series: [UsageSeries], warmupSteps: Int) -> ShortfallCurve {
    let sortedScored = series.map { Array($0.values.dropFirst(warmupSteps)).filter(\.isFinite).map { max($0, 0) }.sorted() }
    let steps = sortedScored.reduce(0) { $0 + $1.count }
    var curve = ShortfallCurve()
    for index in 0..<120 {
        let lambda = 0.01 * pow(1e6, Double(index) / 119)
        var (slackSum, limitSum, shortfalls) = (0.0, 0.0, 0)
        for values in sortedScored where !values.isEmpty {
            var prefix = 0.0
            var best = (cost: Double.infinity, slack: 0.0, limit: 0.0, short: 0)
            for (position, value) in values.enumerated() {
                prefix += value
                let slack = value * Double(position + 1) - prefix
                let short = values.count - 1 - position
                let cost = slack + lambda * Double(short)
                if cost < best.cost { best = (cost, slack, value, short) }
            }
            slackSum += best.slack
            limitSum += best.limit * Double(values.count)
            shortfalls += best.short
        }
        curve.add(rate: Double(shortfalls) / Double(steps), slack: limitSum > 0 ? slackSum / limitSum : 0)
    }
    return curve
}

for dataset in datasets {
    let (path, format, warmup): (String, TraceFormat, Int) = switch dataset {
    case "planetlab": ("\(traces)/planetlab", .planetlab, 72)
    case "azure": ("\(traces)/azure_v1/azure_v1_avg_cpu_50vms.csv.gz", .azureCSV, 288)
    default: fatalError("unknown dataset \(dataset); known: planetlab, azure")
    }
    let series = try TraceReader(format: format).read(path: path)
    let start = ContinuousClock.now
    var rows: [(label: String, at1: Double?, at5: Double?)] = []
    for scan in scans where only.isEmpty || only.contains(where: { scan.label.hasPrefix($0) }) {
        var curve = ShortfallCurve()
        for value in scan.values {
            var knobs = ReplayKnobs(warmupSteps: warmup, forecaster: forecaster)
            scan.apply(&knobs, value)
            var pooled = ReplayScore()
            if scan.pooledBudget {
                for score in replayPooled(series, configuration: knobs.dpmConfiguration, warmupSteps: warmup) {
                    pooled.merge(score)
                }
            } else {
                for item in series { pooled.merge(replay(item, method: scan.method, knobs: knobs, timed: false)) }
            }
            curve.add(pooled)
        }
        rows.append((scan.label, curve.slack(atShortfallRate: 0.01), curve.slack(atShortfallRate: 0.05)))
    }
    let bound = hindsightConstantCurve(series, warmupSteps: warmup)
    rows.append(("hindsight-constant (bound)", bound.slack(atShortfallRate: 0.01), bound.slack(atShortfallRate: 0.05)))

    func text(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "out-of-range" }
    print("== \(dataset): \(series.count) series, warm-up \(warmup) steps; pooled slack at a pooled shortfall rate of "
          + "1% and 5% (each method at its best knob); dpm settings: \(settings.isEmpty ? "defaults" : settings.joined(separator: " "))")
    print("method(knob)".padding(toLength: 30, withPad: " ", startingAt: 0) + "  slack@1%    slack@5%")
    for row in rows {
        print(row.label.padding(toLength: 30, withPad: " ", startingAt: 0)
              + "  " + text(row.at1).padding(toLength: 13, withPad: " ", startingAt: 0) + text(row.at5))
    }
    let baselines = rows.filter { $0.label.hasPrefix("vpa") || $0.label.hasPrefix("autopilot") }
    for (name, pick) in [("1%", \(label: String, at1: Double?, at5: Double?).at1), ("5%", \.at5)] {
        guard let best = baselines.filter({ $0[keyPath: pick] != nil }).min(by: { $0[keyPath: pick]! < $1[keyPath: pick]! }),
              let bestSlack = best[keyPath: pick] else { continue }
        for row in rows where row.label.hasPrefix("dpm") || row.label.hasPrefix("hindsight") {
            guard let value = row[keyPath: pick] else { continue }
            print("at \(name) shortfall: \(row.label) \(text(value)) / best VPA/Autopilot \(best.label) \(text(bestSlack))"
                  + " = ratio \(String(format: "%.3f", value / bestSlack)) (goal <= 0.70)")
        }
    }
    print("(\(String(format: "%.1f", (ContinuousClock.now - start) / .seconds(1))) s)\n")
}
