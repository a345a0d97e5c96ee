// Cost of one forecaster update per tenant-resource, and heap allocations in steady state.
//
// Workload: the 50 Azure V1 CPU series (real 5-minute data), one Forecaster each with the default configuration
// (one daily period of 288 steps). Warm-up: the first 2,000 steps of every series. Then each run feeds the next
// 100 steps of all 50 series (5,000 updates) and records the mean time per update; 30 runs, then median and p99.
// "tick" = update + forecast(), what the agent does for one tenant-resource per tick; "with prior" = the same with a
// central prior (level and daily profile: the mean of the warm-up steps and of each time-of-day slot in them).
// Anchors in the same run: a bare exponentially weighted mean (the cheapest forecaster there is) and the
// Kubernetes VPA recommender baseline (decaying histogram), timed the same way.
// Time: the thread's CPU time (CLOCK_THREAD_CPUTIME_ID) per run, so time other processes take is not counted.
// Allocations: counted by the CMallocCounter interposer over all measured runs (must be 0 for Forecaster).
// Usage: swift run -c release PredictBenchmark [azure.csv.gz]
import CMallocCounter
import Foundation
import Pool
import Predict
import Replay

let path = CommandLine.arguments.dropFirst().first
    ?? "/work/shared/data/traces/azure_v1/azure_v1_avg_cpu_50vms.csv.gz"
let values = try TraceReader(format: .azureCSV).read(path: path).map(\.values)
let warmupSteps = 2_000
let stepsPerRun = 100
let runs = 30
precondition(values.allSatisfy { $0.count >= warmupSteps + 2 * stepsPerRun * runs }, "trace too short")

/// The cheapest forecaster there is: an exponentially weighted mean.
struct EWMAnchor {
    var mean = 0.0
    mutating func update(value: Double) { mean += 0.1 * (value - mean) }
}

@inline(never)
func sink(_ value: Double) { if value == -1 { print(value) } }

func seconds(_ step: Int) -> Double { Double(step) * 300 }

/// CPU time of this thread (CLOCK_THREAD_CPUTIME_ID): on a shared, loaded machine the wall clock also counts the
/// time other processes held the core; the thread's own CPU time does not.
func threadCPUNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Feeds `runs` runs of `stepsPerRun` steps from `firstStep` to every state through `body`, and returns the mean
/// nanoseconds per call within each run and the heap allocations made during all runs.
func measure<State>(_ states: inout [State], from firstStep: Int,
                    _ body: (inout State, Double, Double) -> Double) -> (perRun: [Double], allocations: UInt64) {
    var perRun = [Double](repeating: 0, count: runs)
    var total = 0.0
    let before = dpm_allocation_count()
    for run in 0..<runs {
        let first = firstStep + run * stepsPerRun
        let start = threadCPUNanoseconds()
        for step in first..<(first + stepsPerRun) {
            for index in states.indices { total += body(&states[index], values[index][step], seconds(step)) }
        }
        perRun[run] = Double(threadCPUNanoseconds() - start) / Double(stepsPerRun * states.count)
    }
    let allocations = dpm_allocation_count() - before
    sink(total)
    return (perRun, allocations)
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

/// A prior as central would serve it, from the warm-up steps only: their mean as level, the mean of each 5-minute
/// slot of the day minus that as the daily profile, their standard deviation as residual.
func warmupPrior(_ series: [Double]) -> SeasonalPrior {
    let warmup = series.prefix(warmupSteps)
    let mean = warmup.reduce(0, +) / Double(warmup.count)
    var sums = [Double](repeating: 0, count: 288)
    var counts = [Double](repeating: 0, count: 288)
    for (step, value) in warmup.enumerated() {
        sums[step % 288] += value
        counts[step % 288] += 1
    }
    let variance = warmup.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(warmup.count)
    return SeasonalPrior(resource: .cpu, stepSeconds: 300, level: mean,
                         seasonalProfile: zip(sums, counts).map { $0 / $1 - mean },
                         residualStandardDeviation: variance.squareRoot(), historySteps: warmup.count)
}

func main() {
    var forecasters = values.map { _ in Forecaster() }
    var vpas = values.map { _ in VPARecommender() }
    // Two rates: the fast path at the data's 5-minute step without season, the slow path on hourly means with a
    // daily season (24 steps).
    var twoRates = values.map { _ in
        TwoRateForecaster(fast: ForecasterConfiguration(seasonalPeriods: []),
                          slow: ForecasterConfiguration(stepSeconds: 3600, seasonalPeriods: [24]))
    }
    var anchors = values.map { _ in EWMAnchor() }
    var withPriors = values.map { series in Forecaster(prior: warmupPrior(series)) }
    for index in values.indices {
        for step in 0..<warmupSteps {
            forecasters[index].update(value: values[index][step], atSeconds: seconds(step))
            vpas[index].observe(value: values[index][step], atSeconds: seconds(step))
            twoRates[index].update(value: values[index][step], atSeconds: seconds(step))
            anchors[index].update(value: values[index][step])
            withPriors[index].update(value: values[index][step], atSeconds: seconds(step))
        }
    }
    // Update alone over the first stretch after the warm-up, then update + forecast over the next one (the same
    // forecasters, so no copy-on-write of their arrays can hide in the count).
    let second = warmupSteps + runs * stepsPerRun
    let anchor = measure(&anchors, from: warmupSteps) { state, value, _ in
        state.update(value: value)
        return state.mean
    }
    let update = measure(&forecasters, from: warmupSteps) { state, value, seconds in
        state.update(value: value, atSeconds: seconds)
        return 0
    }
    let tick = measure(&forecasters, from: second) { state, value, seconds in
        state.update(value: value, atSeconds: seconds)
        return state.forecast().atQuantile
    }
    let withPrior = measure(&withPriors, from: second) { state, value, seconds in
        state.update(value: value, atSeconds: seconds)
        return state.forecast().atQuantile
    }
    let twoRate = measure(&twoRates, from: warmupSteps) { state, value, seconds in
        state.update(value: value, atSeconds: seconds)
        return state.forecast().atQuantile
    }
    let vpa = measure(&vpas, from: warmupSteps) { state, value, seconds in
        state.observe(value: value, atSeconds: seconds)
        return state.limit()
    }

    print("PredictBenchmark: \(values.count) Azure V1 series, warm-up \(warmupSteps) steps, \(runs) runs × "
          + "\(stepsPerRun) steps × \(values.count) series; thread CPU ns per update (mean within a run), median and p99 over runs")
    let anchorMedian = percentile(anchor.perRun, 0.5)
    let vpaMedian = percentile(vpa.perRun, 0.5)
    for (name, result) in [("anchor: EWMA update", anchor), ("Forecaster.update", update),
                           ("Forecaster.update + forecast", tick),
                           ("... with prior", withPrior), ("TwoRateForecaster tick", twoRate),
                           ("anchor: VPA observe + limit", vpa)] {
        let median = percentile(result.perRun, 0.5)
        let figures = String(format: "median %7.1f ns  p99 %7.1f ns  ×EWMA %6.2f  ×VPA %5.2f",
                             median, percentile(result.perRun, 0.99), median / anchorMedian, median / vpaMedian)
        print(name.padding(toLength: 30, withPad: " ", startingAt: 0) + figures
              + "  heap allocations \(result.allocations)")
    }
}

main()
