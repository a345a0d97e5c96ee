// The whole Solve step as the agent runs it each tick, and its heap allocations in steady state.
//
// Workload: `AllocationProblem.synthetic(tenantCount:seed:)` at each size (one in eight tenants latency-critical,
// half burstable, the rest best-effort; 2 NUMA nodes, SMT 2, one housekeeping CPU, one link). One cold solve, then
// REPEAT warm steps. The drift between steps is the agent's: it holds each tenant's demand until its forecast
// moved enough (CLoop's `heldDemand`), so most solves see a few tenants change. Before a "few changed" step FEW
// tenants (drawn at random) get new demands; every ALL_EVERY-th step is an "all changed" one (after a burst of
// forecasts, or a new window) where every tenant does. A changed tenant's demands (expected and quantile, all
// resources) are the original ones times its own factor drawn uniformly from [1 − DRIFT, 1 + DRIFT] by
// SplitMix64(SEED) — the drift of `dpm solve --synthetic-tenants N --repeat R`. Both kinds are reported apart.
// One step = `AllocationSolver.solve(demands:)` (cost model, greedy core placement, LP bounds and costs, warm dual
// simplex, amounts) + `readAllocations(into:)` (the per-slot read-back the tick uses).
// Time: per step, the wall clock (CLOCK_MONOTONIC) and the thread's CPU time (CLOCK_THREAD_CPUTIME_ID, which leaves
// out the time other processes held the core on this shared machine); median and p99 of each.
// Allocations: counted by the CMallocCounter interposer around each warm step (not the drift between steps).
// Anchor: GLPK is timed in the same run by Benchmarks/solve/run.sh on the LP this program exports (--mps-dir).
// Usage: SolveBenchmark [--sizes 4,16,64,256] [--repeat 2000] [--drift 0.1] [--seed 1] [--few 3] [--all-every 10]
//        [--mps-dir DIR]
// Prints one JSON object per size (keys as `dpm solve --format json`) after a human-readable line.
import CMallocCounter
import Foundation
import Pool
import Solve

struct Options {
    var sizes = [4, 16, 64, 256]
    var repeatCount = 2000
    var drift = 0.1
    var seed: UInt64 = 1
    var fewCount = 3
    var allEvery = 10
    var mpsDirectory: String?

    init(arguments: [String]) {
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { fatalError("\(flag) needs a value") }
            switch flag {
            case "--sizes": sizes = value.split(separator: ",").map { Int($0)! }
            case "--repeat": repeatCount = Int(value)!
            case "--drift": drift = Double(value)!
            case "--seed": seed = UInt64(value)!
            case "--few": fewCount = Int(value)!
            case "--all-every": allEvery = Int(value)!
            case "--mps-dir": mpsDirectory = value
            default: fatalError("unknown option \(flag)")
            }
        }
    }
}

func nanoseconds(_ clock: clockid_t) -> UInt64 {
    var time = timespec()
    clock_gettime(clock, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Median and p99 in microseconds of nanosecond samples.
func quantiles(_ samples: [UInt64]) -> (median: Double, p99: Double) {
    if samples.isEmpty { return (.nan, .nan) }
    let sorted = samples.sorted()
    let p99Index = min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)
    return (Double(sorted[sorted.count / 2]) / 1000, Double(sorted[p99Index]) / 1000)
}

func run(size: Int, options: Options) throws -> String {
    let problem = AllocationProblem.synthetic(tenantCount: size, seed: options.seed)
    let host = try problem.hostCapacity(), specs = try problem.tenantSpecs()
    let original = problem.demands()
    let coldStart = nanoseconds(CLOCK_MONOTONIC)
    let solver = try AllocationSolver(host: host, specs: specs)
    try solver.solve(demands: original)
    var allocations = Array(repeating: TenantAllocation(exclusiveCoreIDs: Array(repeating: 0, count: host.cores.count)), count: specs.count)
    solver.readAllocations(into: &allocations)
    let coldMicroseconds = Double(nanoseconds(CLOCK_MONOTONIC) - coldStart) / 1000
    if let directory = options.mpsDirectory {
        try MPSWriter.write(solver.linearProgram).write(toFile: "\(directory)/alloc-\(size).mps", atomically: true, encoding: .utf8)
    }
    let objective = solver.lpObjective

    var random = SplitMix64(seed: options.seed)
    var demands = original
    func drift(_ slot: Int) {
        let factor = 1 - options.drift + 2 * options.drift * random.nextUnit()
        for kind in ResourceKind.allCases {
            demands[slot][kind].expected = original[slot][kind].expected * factor
            demands[slot][kind].atQuantile = original[slot][kind].atQuantile * factor
        }
    }
    var wall = [UInt64](repeating: 0, count: options.repeatCount)
    var cpu = wall
    var isAllChanged = [Bool](repeating: false, count: options.repeatCount)
    var iterations = [Int](repeating: 0, count: options.repeatCount)
    var optimal = 0
    var allocationCount: UInt64 = 0
    for step in 0..<options.repeatCount {
        isAllChanged[step] = step % options.allEvery == options.allEvery - 1
        if isAllChanged[step] {
            for slot in demands.indices { drift(slot) }
        } else {
            for _ in 0..<min(options.fewCount, size) { drift(Int(random.next() % UInt64(size))) }
        }
        let allocationsBefore = dpm_allocation_count()
        let wallStart = nanoseconds(CLOCK_MONOTONIC), cpuStart = nanoseconds(CLOCK_THREAD_CPUTIME_ID)
        try solver.solve(demands: demands)
        solver.readAllocations(into: &allocations)
        let cpuEnd = nanoseconds(CLOCK_THREAD_CPUTIME_ID), wallEnd = nanoseconds(CLOCK_MONOTONIC)
        allocationCount += dpm_allocation_count() - allocationsBefore
        cpu[step] = cpuEnd - cpuStart
        wall[step] = wallEnd - wallStart
        iterations[step] = solver.lpIterations
        if solver.lpStatus == .optimal { optimal += 1 }
    }
    try solver.allocation().validate(host: host, specs: specs)

    let (wallMedian, wallP99) = quantiles(wall), (cpuMedian, cpuP99) = quantiles(cpu)
    let few = wall.indices.filter { !isAllChanged[$0] }, all = wall.indices.filter { isAllChanged[$0] }
    let (fewWallMedian, fewWallP99) = quantiles(few.map { wall[$0] }), (fewCPUMedian, fewCPUP99) = quantiles(few.map { cpu[$0] })
    let (allWallMedian, allWallP99) = quantiles(all.map { wall[$0] }), (allCPUMedian, allCPUP99) = quantiles(all.map { cpu[$0] })
    let sortedIterations = iterations.sorted()
    let perStep = Double(allocationCount) / Double(options.repeatCount)
    print(String(format: "# %4d tenants, %d cores: %d warm steps, step wall median %.2f µs p99 %.2f µs, thread CPU median %.2f µs p99 %.2f µs, %.3f allocations/step",
                 size, host.cores.count, options.repeatCount, wallMedian, wallP99, cpuMedian, cpuP99, perStep))
    print(String(format: "#   %d steps with %d tenants changed: wall median %.2f µs p99 %.2f µs, thread CPU median %.2f µs p99 %.2f µs",
                 few.count, min(options.fewCount, size), fewWallMedian, fewWallP99, fewCPUMedian, fewCPUP99))
    print(String(format: "#   %d steps with all %d changed: wall median %.2f µs p99 %.2f µs, thread CPU median %.2f µs p99 %.2f µs",
                 all.count, size, allWallMedian, allWallP99, allCPUMedian, allCPUP99))
    let fields: [(String, String)] = [
        ("tenant_count", "\(size)"), ("status", "\"\(solver.lpStatus.rawValue)\""), ("objective", "\(objective)"),
        ("cold_us", "\(coldMicroseconds)"), ("repeat", "\(options.repeatCount)"), ("drift", "\(options.drift)"), ("seed", "\(options.seed)"),
        ("warm_optimal", "\(optimal)"), ("median_us", "\(wallMedian)"), ("p99_us", "\(wallP99)"),
        ("cpu_median_us", "\(cpuMedian)"), ("cpu_p99_us", "\(cpuP99)"),
        ("median_iterations", "\(sortedIterations[sortedIterations.count / 2])"),
        ("p99_iterations", "\(sortedIterations[min(sortedIterations.count - 1, Int((Double(sortedIterations.count) * 0.99).rounded(.up)) - 1)])"),
        ("allocations_per_step", "\(perStep)"),
        ("few_changed", "\(min(options.fewCount, size))"), ("all_every", "\(options.allEvery)"),
        ("few_median_us", "\(fewWallMedian)"), ("few_p99_us", "\(fewWallP99)"), ("few_cpu_median_us", "\(fewCPUMedian)"), ("few_cpu_p99_us", "\(fewCPUP99)"),
        ("all_median_us", "\(allWallMedian)"), ("all_p99_us", "\(allWallP99)"), ("all_cpu_median_us", "\(allCPUMedian)"), ("all_cpu_p99_us", "\(allCPUP99)"),
    ]
    return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
}

let options = Options(arguments: Array(CommandLine.arguments.dropFirst()))
print("# SolveBenchmark: whole Solve step, \(ProcessInfo.processInfo.activeProcessorCount) CPUs, repeat \(options.repeatCount), drift \(options.drift), seed \(options.seed), \(options.fewCount) tenants changed per step, all every \(options.allEvery)")
for size in options.sizes { print(try run(size: size, options: options)) }
