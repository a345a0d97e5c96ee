// What central's priors cost the tick: `ControlLoop.tick` with 64 tenants, the real PredictForecaster and
// SolvePlanner, a dry-run enforcer and a telemetry source that reports 0.5 core per tenant (with a small wobble, and
// exactly flat), run with every tenant prepared with and adopting a CPU prior (a daily profile of 288 five-minute
// steps) against the anchor, the same loop with no priors. Prints, per variant over RUNS runs of TICKS ticks after WARMUP ticks: median tick work p50 and
// p99 (ns), heap allocations per tick (counted by interposing malloc), and solves in the measured window (a solve
// allocates by design; steady use should trigger none). Never passes or fails.
// Run: swift build -c release --product TickPriorBenchmark && .build/release/TickPriorBenchmark [runs] [ticks]
import CLoop
import CMallocCounter
import Foundation
import Glibc
import Pool

final class SteadyTelemetry: TelemetrySource {
    let sourceName = "steady"
    let slots: Int
    let flat: Bool
    init(slots: Int, flat: Bool) {
        self.slots = slots
        self.flat = flat
    }
    func attach(slot: Int, cgroupPath: String) throws {}
    func detach(slot: Int) {}
    /// 0.5 core give or take 5% (a wobble of period 7 ticks, phase by slot), or exactly 0.5 core when `flat`.
    func drain(into frame: TelemetryFrame, nowNanoseconds: UInt64) {
        let tick = Int(nowNanoseconds / 1_000_000)
        for slot in 0..<slots { frame.cpuNanoseconds[slot] = flat ? 500_000 : UInt64(475_000 + 8_333 * ((tick + slot) % 7)) }
    }
    func close() {}
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

struct RunResult {
    var p50: Double
    var p99: Double
    var allocationsPerTick: Double
    var solves: UInt64
}

func run(withPriors: Bool, flat: Bool, tenants: Int, warmup: Int, ticks: Int) throws -> RunResult {
    let config = AgentConfig()
    let host = try HostProbe.capacity(config: config)
    let specs = (0..<tenants).map { TenantSpec(name: "t\($0)", cgroupPath: "bench/t\($0)", tenantClass: .burstable) }
    let profile = (0..<288).map { 0.3 * sin(2 * Double.pi * Double($0) / 288) }
    let prior = SeasonalPrior(resource: .cpu, stepSeconds: 300, level: 0.6, seasonalProfile: profile, residualStandardDeviation: 0.1, historySteps: 4032)
    let forecaster = PredictForecaster(tickNanoseconds: config.tickNanoseconds, capacity: tenants)
    for slot in 0..<tenants { forecaster.prepare(slot: slot, spec: specs[slot], cpuPrior: withPriors ? prior : nil) }
    let loop = ControlLoop(config: config, capacity: tenants, telemetry: SteadyTelemetry(slots: tenants, flat: flat), forecaster: forecaster, enforcer: DryRunEnforcer())
    let plan = try SolvePlanner(manageMemory: false).plan(host: host, specs: specs, current: Allocation())
    let table = TenantTable(
        generation: 1, host: host, specs: specs, slots: Array(0..<tenants), plan: plan,
        cpuPriors: specs.map { _ in withPriors ? prior : nil }
    )
    loop.tables.publish(table)
    var now: UInt64 = 1_000_000
    for _ in 0..<warmup {
        loop.tick(nowNanoseconds: now)
        now += 1_000_000
    }
    var durations = [UInt64](repeating: 0, count: ticks)
    let solvesBefore = loop.snapshot.read(slots: []).loop.solves
    let allocationsBefore = dpm_allocation_count()
    for index in 0..<ticks {
        let start = monotonicNanoseconds()
        loop.tick(nowNanoseconds: now)
        durations[index] = monotonicNanoseconds() - start
        now += 1_000_000
    }
    let allocations = dpm_allocation_count() - allocationsBefore
    let solves = loop.snapshot.read(slots: []).loop.solves - solvesBefore
    durations.sort()
    return RunResult(
        p50: Double(durations[ticks / 2]), p99: Double(durations[ticks * 99 / 100]),
        allocationsPerTick: Double(allocations) / Double(ticks), solves: solves
    )
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

let arguments = CommandLine.arguments
let runs = arguments.count > 1 ? Int(arguments[1]) ?? 5 : 5
let ticks = arguments.count > 2 ? Int(arguments[2]) ?? 20_000 : 20_000
let tenants = 64
print("TickPriorBenchmark: ControlLoop.tick, \(tenants) tenants, PredictForecaster + SolvePlanner + dry-run enforcer, 0.5 core each")
print("runs \(runs) × \(ticks) ticks (after 5000 warm-up ticks), variants interleaved; figures are medians over runs")
for flat in [false, true] {
    var results: [Bool: [RunResult]] = [false: [], true: []]
    for _ in 0..<runs {
        for withPriors in [false, true] {
            results[withPriors]!.append(try run(withPriors: withPriors, flat: flat, tenants: tenants, warmup: 5000, ticks: ticks))
        }
    }
    print(flat ? "usage exactly 0.5 core every tick:" : "usage 0.5 core ± 5% (wobble of 7 ticks):")
    for withPriors in [false, true] {
        let list = results[withPriors]!
        let name = withPriors ? "  with priors:       " : "  no priors (anchor):"
        print(name + String(
            format: " tick work p50 %8.0f ns  p99 %8.0f ns  allocations/tick %.4f", median(list.map(\.p50)), median(list.map(\.p99)),
            median(list.map(\.allocationsPerTick))
        ) + "  solves in window per run: \(list.map { String($0.solves) }.joined(separator: ","))")
    }
    let anchor = results[false]!, priors = results[true]!
    print(String(
        format: "  ratio with/without priors: p50 %.2f, p99 %.2f",
        median(priors.map(\.p50)) / median(anchor.map(\.p50)), median(priors.map(\.p99)) / median(anchor.map(\.p99))
    ))
}
