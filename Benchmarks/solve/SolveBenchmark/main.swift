// The whole Solve step as the agent runs it each tick, and its heap allocations in steady state.
//
// Workload: `AllocationProblem.synthetic(tenantCount:seed:)` at each size (one in eight tenants latency-critical,
// half burstable, the rest best-effort; 2 NUMA nodes, SMT 2, one housekeeping CPU, one link). One cold solve, then
// REPEAT warm steps; before each step every tenant's demands (expected and quantile, all resources) are the
// original ones times its own factor drawn uniformly from [1 − DRIFT, 1 + DRIFT] by SplitMix64(SEED) — the same
// drift as `dpm solve --synthetic-tenants N --repeat R`.
// One step = `AllocationSolver.solve(demands:)` (cost model, greedy core placement, LP bounds and costs, warm dual
// simplex, amounts) + `readAllocations(into:)` (the per-slot read-back the tick uses).
// Time: per step, the wall clock (CLOCK_MONOTONIC) and the thread's CPU time (CLOCK_THREAD_CPUTIME_ID, which leaves
// out the time other processes held the core on this shared machine); median and p99 of each.
// Allocations: counted by the CMallocCounter interposer around each warm step (not the drift between steps).
// Anchor: GLPK is timed in the same run by Benchmarks/solve/run.sh on the LP this program exports (--mps-dir).
// Usage: SolveBenchmark [--sizes 4,16,64,256] [--repeat 2000] [--drift 0.1] [--seed 1] [--mps-dir DIR]
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
    var wall = [UInt64](repeating: 0, count: options.repeatCount)
    var cpu = wall
    var iterations = [Int](repeating: 0, count: options.repeatCount)
    var optimal = 0
    var allocationCount: UInt64 = 0
    for step in 0..<options.repeatCount {
        for slot in demands.indices {
            let factor = 1 - options.drift + 2 * options.drift * random.nextUnit()
            for kind in ResourceKind.allCases {
                demands[slot][kind].expected = original[slot][kind].expected * factor
                demands[slot][kind].atQuantile = original[slot][kind].atQuantile * factor
            }
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
    let sortedIterations = iterations.sorted()
    let perStep = Double(allocationCount) / Double(options.repeatCount)
    print(String(format: "# %4d tenants, %d cores: %d warm steps, step wall median %.2f µs p99 %.2f µs, thread CPU median %.2f µs p99 %.2f µs, %.3f allocations/step",
                 size, host.cores.count, options.repeatCount, wallMedian, wallP99, cpuMedian, cpuP99, perStep))
    let fields: [(String, String)] = [
        ("tenant_count", "\(size)"), ("status", "\"\(solver.lpStatus.rawValue)\""), ("objective", "\(objective)"),
        ("cold_us", "\(coldMicroseconds)"), ("repeat", "\(options.repeatCount)"), ("drift", "\(options.drift)"), ("seed", "\(options.seed)"),
        ("warm_optimal", "\(optimal)"), ("median_us", "\(wallMedian)"), ("p99_us", "\(wallP99)"),
        ("cpu_median_us", "\(cpuMedian)"), ("cpu_p99_us", "\(cpuP99)"),
        ("median_iterations", "\(sortedIterations[sortedIterations.count / 2])"),
        ("p99_iterations", "\(sortedIterations[min(sortedIterations.count - 1, Int((Double(sortedIterations.count) * 0.99).rounded(.up)) - 1)])"),
        ("allocations_per_step", "\(perStep)"),
    ]
    return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
}

let options = Options(arguments: Array(CommandLine.arguments.dropFirst()))
print("# SolveBenchmark: whole Solve step, \(ProcessInfo.processInfo.activeProcessorCount) CPUs, repeat \(options.repeatCount), drift \(options.drift), seed \(options.seed)")
for size in options.sizes { print(try run(size: size, options: options)) }
