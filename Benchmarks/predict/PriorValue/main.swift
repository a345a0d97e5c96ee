// Value of central priors for Predict (issue 8's first goal), replay-style on the Azure V1 traces (50 VMs, 5-minute
// CPU %, 27.8 days), the VMs split across 10 simulated edge hosts (VM i on host i mod 10).
//
// Central learns as `Central`'s learner does, with its own code (`CentralLearning`): every "seen" VM's first 14 days
// are fitted by `SeasonalDecomposition.fit` (its own prior), and each host's class prior for a new tenant is
// `ShapeClustering.classPriors` over the seen VMs of the OTHER hosts (one workload class: Azure VMs). Every 5th VM is
// never seen. The edge runs Predict (`Forecaster`, default configuration: 5-minute step, daily season); "edge-only"
// has no prior, "blended" is given the prior and weighs it by its recent error (Forecaster's online ensemble).
// Scenarios:
// - new tenants, first day: the 10 never-seen VMs start at day 14 with no history; scored over their first 288 steps
//   (no warm-up: the first day as the tenant lives it). Blended starts from the class prior.
// - strongly seasonal tenants (their own 14-day fit has a seasonal profile carrying >= 30% of the variance left
//   after the trend), moved to an edge host with no state at day 14 (a restart without saved state, a
//   migration): scored over the first day and the first week, blended with their own prior.
// - the same tenants on a warm edge that saw days 0-13 itself (warm-up 14 days), scored over days 14-20.
// Figures: pooled slack at a pooled shortfall rate of 1% and 5% (Predict's quantile scanned, read by
// `ShortfallCurve`), and MASE at 1 and 12 steps (point forecasts; quantile 0.95). Deterministic: one run.
// Usage: swift run -c release predict-prior-value [azure.csv.gz]; PRIOR_VALUE_SEASONAL=names,... fixes the seasonal set.
import CentralLearning
import Foundation
import Pool
import Predict
import Replay

let path = CommandLine.arguments.dropFirst().first
    ?? "/work/shared/data/traces/azure_v1/azure_v1_avg_cpu_50vms.csv.gz"
/// 2026-11-01 00:00 UTC: trace step 0 is placed here, so priors phased to the Unix epoch line up with the day.
let originSeconds: Int64 = 1_793_491_200
let stepSeconds = 300
let stepsPerDay = 288
let trainingDays = 14
let hostCount = 10
let strongSeasonality = 0.3
let quantiles = [0.7, 0.8, 0.9, 0.93, 0.95, 0.97, 0.98, 0.985, 0.99, 0.993, 0.996, 0.998]

let vms = try TraceReader(format: .azureCSV).read(path: path)
let neverSeen = Set(stride(from: 4, to: vms.count, by: 5))
let seen = vms.indices.filter { !neverSeen.contains($0) }
let trainingSteps = trainingDays * stepsPerDay

/// Central's model of a seen VM from its first 14 days.
var models: [Int: TenantModel] = [:]
for index in seen {
    models[index] = SeasonalDecomposition.fit(
        values: Array(vms[index].values.prefix(trainingSteps)), startSeconds: originSeconds, stepSeconds: stepSeconds,
        resource: .cpu)
}

/// Share of the detrended variance the model's seasonal profile carries: var(profile) / (var(profile) + residual²),
/// with the profile's residual (not the one-step error the prior carries).
func seasonalStrength(_ model: TenantModel) -> Double {
    let prior = model.prior
    guard !prior.seasonalProfile.isEmpty else { return 0 }
    let mean = prior.seasonalProfile.reduce(0, +) / Double(prior.seasonalProfile.count)
    let variance = prior.seasonalProfile.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(prior.seasonalProfile.count)
    let residual = model.profileResidualStandardDeviation * model.profileResidualStandardDeviation
    return variance + residual > 0 ? variance / (variance + residual) : 0
}

/// A slice of a VM's series, `days` days from day `firstDay`, placed at its wall-clock time.
func slice(_ index: Int, firstDay: Int, days: Int) -> UsageSeries {
    let values = vms[index].values
    let start = min(firstDay * stepsPerDay, values.count)
    let end = min(start + days * stepsPerDay, values.count)
    return UsageSeries(name: vms[index].name, values: Array(values[start..<end]), stepSeconds: Double(stepSeconds),
                       startSeconds: Double(originSeconds) + Double(start * stepSeconds))
}

struct Figures {
    var at1: Double?
    var at5: Double?
    var score: ReplayScore
}

/// Replays every (series, prior) pair with Predict at each scanned quantile; `prior` nil is edge-only.
func measure(_ cases: [(series: UsageSeries, prior: SeasonalPrior?)], warmupSteps: Int) -> Figures {
    var curve = ShortfallCurve()
    var atDefault = ReplayScore()
    for quantile in quantiles {
        var configuration = ForecasterConfiguration()
        configuration.shortfallTarget = 1 - quantile
        var pooled = ReplayScore()
        for item in cases {
            pooled.merge(replay(item.series, method: ForecasterMethod(configuration: configuration, prior: item.prior),
                                warmupSteps: warmupSteps))
        }
        curve.add(pooled)
        if quantile == 0.95 { atDefault = pooled }
    }
    return Figures(at1: curve.slack(atShortfallRate: 0.01), at5: curve.slack(atShortfallRate: 0.05), score: atDefault)
}

func text(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "   n/a" }
func ratio(_ value: Double?, _ anchor: Double?) -> String {
    guard let value, let anchor, anchor > 0 else { return "  n/a" }
    return String(format: "%.3f", value / anchor)
}

func report(_ title: String, _ cases: [(series: UsageSeries, prior: SeasonalPrior?)], warmupSteps: Int) {
    let edge = measure(cases.map { ($0.series, nil) }, warmupSteps: warmupSteps)
    let blended = measure(cases, warmupSteps: warmupSteps)
    print("\n\(title): \(cases.count) series, \(edge.score.steps) scored steps")
    print("  method      slack@1%  slack@5%  shortfall@q0.95  mase_1  mase_12")
    for (name, figures) in [("edge-only", edge), ("blended  ", blended)] {
        print("  \(name)   \(text(figures.at1))    \(text(figures.at5))    \(text(figures.score.shortfallRate))"
              + "           \(text(figures.score.mase1))  \(text(figures.score.mase12))")
    }
    print("  blended / edge-only: slack@1% \(ratio(blended.at1, edge.at1)), slack@5% \(ratio(blended.at5, edge.at5)), "
          + "mase_1 \(ratio(blended.score.mase1, edge.score.mase1)), mase_12 \(ratio(blended.score.mase12, edge.score.mase12))")
}

print("predict-prior-value: \(vms.count) Azure V1 VMs, \(hostCount) simulated edge hosts; central fitted \(models.count) "
      + "seen VMs on days 0-\(trainingDays - 1) (SeasonalDecomposition), class priors by ShapeClustering over other hosts' VMs")

// New tenants: the class prior of their host, learnt from the other hosts' seen VMs.
let newCases = neverSeen.sorted().map { index -> (series: UsageSeries, prior: SeasonalPrior?) in
    let host = index % hostCount
    let members = seen.filter { $0 % hostCount != host }.compactMap { models[$0].map { (key: "azure-vm", model: $0) } }
    return (slice(index, firstDay: trainingDays, days: 1), ShapeClustering.classPriors(members, resource: .cpu)["azure-vm"])
}
report("new tenants, first day (day \(trainingDays)), class prior", newCases, warmupSteps: 0)

/// `PRIOR_VALUE_SEASONAL=vm_a,vm_b,...` fixes the seasonal selection (to compare runs whose fits select differently).
let fixedSeasonal = ProcessInfo.processInfo.environment["PRIOR_VALUE_SEASONAL"].map { Set($0.split(separator: ",").map(String.init)) }
let seasonal = fixedSeasonal.map { names in seen.filter { names.contains(vms[$0].name) } }
    ?? seen.filter { models[$0].map { seasonalStrength($0) >= strongSeasonality } ?? false }
print("\nstrongly seasonal seen VMs (seasonal share >= \(strongSeasonality)): "
      + seasonal.map { "\(vms[$0].name) \(String(format: "%.2f", seasonalStrength(models[$0]!)))" }.joined(separator: ", "))
report("strongly seasonal, cold edge from day \(trainingDays), first day, own prior",
       seasonal.map { (slice($0, firstDay: trainingDays, days: 1), models[$0]!.prior) }, warmupSteps: 0)
report("strongly seasonal, cold edge from day \(trainingDays), first week, own prior",
       seasonal.map { (slice($0, firstDay: trainingDays, days: 7), models[$0]!.prior) }, warmupSteps: 0)
report("strongly seasonal, warm edge (saw days 0-\(trainingDays - 1)), days \(trainingDays)-\(trainingDays + 6), own prior",
       seasonal.map { (slice($0, firstDay: 0, days: trainingDays + 7), models[$0]!.prior) }, warmupSteps: trainingSteps)
report("all seen VMs, cold edge from day \(trainingDays), first day, own prior",
       seen.compactMap { index in models[index].map { (slice(index, firstDay: trainingDays, days: 1), $0.prior) } },
       warmupSteps: 0)
