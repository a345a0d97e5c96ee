import ArgumentParser
import Foundation
import Pool
import Solve

/// `dpm solve`: solve a linear program from an MPS file, or an allocation problem from JSON, optionally re-solving
/// it warm many times under seeded drift to measure the warm path.
struct SolveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "solve",
        abstract: "Solve a linear program (MPS) or an allocation problem (JSON) with dpm's simplex solver.",
        discussion: """
        With --repeat N the problem is then re-solved N times from the previous basis. For --mps, every finite row \
        bound of the original problem is multiplied by its own factor drawn uniformly from [1-F, 1+F] (an equality \
        row draws one factor for both sides); for --allocation, every tenant's demand is. Draws come from \
        SplitMix64(seed) in row order, so the C and Python anchors under Benchmarks/solve replay the same drift.
        """
    )

    @Option(name: .customLong("mps"), help: "A linear program in MPS format.")
    var mpsPath: String?

    @Option(name: .customLong("mps-format"), help: "MPS flavour: auto, fixed or free.")
    var mpsFormat: String = "auto"

    @Option(name: .customLong("allocation"), help: "An allocation problem in JSON (host, tenants with class, demand, min, max).")
    var allocationPath: String?

    @Option(name: .customLong("synthetic-tenants"), help: "Instead of a file, a seeded synthetic allocation problem with this many tenants.")
    var syntheticTenants: Int?

    @Option(name: .customLong("export-mps"), help: "Write the allocation LP of the first tick to this MPS file.")
    var exportMPSPath: String?

    @Option(name: .customLong("repeat"), help: "Warm re-solves after the first solve.")
    var repeatCount: Int = 0

    @Option(help: "Relative drift F of each re-solve's bounds or demands.")
    var drift: Double = 0.1

    @Option(help: "Seed of the drift.")
    var seed: UInt64 = 1

    @Option(help: "Output: table or json.")
    var format: String = "table"

    mutating func validate() throws {
        let sources = [mpsPath != nil, allocationPath != nil, syntheticTenants != nil].filter { $0 }.count
        if sources != 1 { throw ValidationError("give exactly one of --mps, --allocation, --synthetic-tenants") }
        if repeatCount < 0 { throw ValidationError("--repeat must be at least 0") }
        if !(drift >= 0 && drift < 1) { throw ValidationError("--drift must be in [0, 1)") }
        if !["table", "json"].contains(format) { throw ValidationError("--format must be table or json") }
        if MPSFormat(rawValue: mpsFormat) == nil { throw ValidationError("--mps-format must be auto, fixed or free") }
    }

    func run() throws {
        if let mpsPath {
            let text = try String(contentsOfFile: mpsPath, encoding: .utf8)
            let program = try MPSReader.parse(text, format: MPSFormat(rawValue: mpsFormat)!)
            try report(solveLinearProgram(program))
        } else {
            let problem: AllocationProblem
            if let allocationPath {
                problem = try JSONDecoder().decode(AllocationProblem.self, from: Data(contentsOf: URL(fileURLWithPath: allocationPath)))
            } else {
                problem = AllocationProblem.synthetic(tenantCount: syntheticTenants!, seed: seed)
            }
            try report(solveAllocation(problem))
        }
    }

    // MARK: Linear programs

    private func solveLinearProgram(_ program: LinearProgram) throws -> Report {
        var report = Report()
        report.add("problem", .text(program.name))
        report.add("rows", .integer(program.rowCount))
        report.add("columns", .integer(program.columnCount))
        let coldStart = Stopwatch.nanoseconds()
        let solver = try SimplexSolver(program)
        let status = solver.solve()
        let coldMicroseconds = Double(Stopwatch.nanoseconds() - coldStart) / 1000
        report.add("status", .text(status.rawValue))
        report.add("objective", .number(solver.objective))
        report.add("iterations", .integer(solver.iterations))
        report.add("cold_us", .number(coldMicroseconds))
        guard repeatCount > 0 else { return report }
        var random = SplitMix64(seed: seed)
        var samples = WarmSamples(capacity: repeatCount)
        let drift = drift
        for _ in 0..<repeatCount {
            for i in 0..<program.rowCount {
                let (low, high) = (program.rowLower[i], program.rowUpper[i])
                if low == high {
                    let factor = drawFactor(&random, drift)
                    solver.setRowBounds(i, lower: low * factor, upper: high * factor)
                } else {
                    let newLow = low.isFinite ? low * drawFactor(&random, drift) : low
                    let newHigh = high.isFinite ? high * drawFactor(&random, drift) : high
                    solver.setRowBounds(i, lower: newLow, upper: newHigh)
                }
            }
            let start = Stopwatch.nanoseconds()
            let warmStatus = solver.solve()
            samples.record(nanoseconds: Stopwatch.nanoseconds() - start, iterations: solver.iterations, optimal: warmStatus == .optimal)
        }
        samples.add(to: &report, repeatCount: repeatCount, drift: drift, seed: seed)
        return report
    }

    /// A drift factor uniform in [1 − F, 1 + F]. (F is passed in: reading an `@Option` costs a metadata lookup.)
    private func drawFactor(_ random: inout SplitMix64, _ drift: Double) -> Double { 1 - drift + 2 * drift * random.nextUnit() }

    // MARK: Allocation problems

    private func solveAllocation(_ problem: AllocationProblem) throws -> Report {
        let host = try problem.hostCapacity(), specs = try problem.tenantSpecs()
        var report = Report()
        report.add("tenant_count", .integer(specs.count))
        report.add("cores", .integer(host.cores.count))
        let coldStart = Stopwatch.nanoseconds()
        let solver = try AllocationSolver(host: host, specs: specs)
        let original = problem.demands()
        try solver.solve(demands: original)
        let coldMicroseconds = Double(Stopwatch.nanoseconds() - coldStart) / 1000
        if let exportMPSPath { try MPSWriter.write(solver.linearProgram).write(toFile: exportMPSPath, atomically: true, encoding: .utf8) }
        let allocation = solver.allocation()
        try allocation.validate(host: host, specs: specs)
        try solver.memoryNodePlacement().validate(allocation: allocation, host: host)
        report.add("status", .text(solver.lpStatus.rawValue))
        report.add("objective", .number(solver.lpObjective))
        report.add("cost", .number(solver.totalCost))
        report.add("iterations", .integer(solver.lpIterations))
        report.add("lp_rows", .integer(solver.linearProgram.rowCount))
        report.add("lp_columns", .integer(solver.linearProgram.columnCount))
        report.add("cold_us", .number(coldMicroseconds))
        let explanations = specs.indices.map { solver.explanation(slot: $0) }
        report.tenants = specs.indices.map { slot in
            TenantLine(allocation: allocation.tenants[specs[slot].name]!, explanation: explanations[slot])
        }
        guard repeatCount > 0 else { return report }
        var random = SplitMix64(seed: seed)
        var demands = original
        var samples = WarmSamples(capacity: repeatCount)
        let drift = drift
        for _ in 0..<repeatCount {
            for slot in demands.indices {
                let factor = drawFactor(&random, drift)
                for kind in ResourceKind.allCases {
                    demands[slot][kind].expected = original[slot][kind].expected * factor
                    demands[slot][kind].atQuantile = original[slot][kind].atQuantile * factor
                }
            }
            let start = Stopwatch.nanoseconds()
            try solver.solve(demands: demands)
            samples.record(nanoseconds: Stopwatch.nanoseconds() - start, iterations: solver.lpIterations, optimal: solver.lpStatus == .optimal)
        }
        try solver.allocation().validate(host: host, specs: specs)
        samples.add(to: &report, repeatCount: repeatCount, drift: drift, seed: seed)
        return report
    }

    // MARK: Output

    private func report(_ report: Report) throws {
        if format == "json" {
            print(try report.json())
        } else {
            print(report.table())
        }
    }
}

/// Warm solve times and iterations, in arrays reserved up front so recording allocates nothing.
private struct WarmSamples {
    var microseconds: [Double] = []
    var iterations: [Int] = []
    var optimal = 0

    init(capacity: Int) {
        microseconds.reserveCapacity(capacity)
        iterations.reserveCapacity(capacity)
    }

    mutating func record(nanoseconds: UInt64, iterations count: Int, optimal isOptimal: Bool) {
        microseconds.append(Double(nanoseconds) / 1000)
        iterations.append(count)
        if isOptimal { optimal += 1 }
    }

    func add(to report: inout Report, repeatCount: Int, drift: Double, seed: UInt64) {
        let times = microseconds.sorted(), counts = iterations.sorted()
        report.add("repeat", .integer(repeatCount))
        report.add("drift", .number(drift))
        report.add("seed", .integer(Int(seed)))
        report.add("warm_optimal", .integer(optimal))
        report.add("median_us", .number(times[times.count / 2]))
        report.add("p99_us", .number(times[min(times.count - 1, Int((Double(times.count) * 0.99).rounded(.up)) - 1)]))
        report.add("median_iterations", .integer(counts[counts.count / 2]))
        report.add("mean_iterations", .number(Double(counts.reduce(0, +)) / Double(counts.count)))
        report.add("max_iterations", .integer(counts[counts.count - 1]))
    }
}

/// Monotonic time for the benchmark loops.
private enum Stopwatch {
    static func nanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}

/// One tenant's row in the allocation report.
private struct TenantLine: Encodable {
    var allocation: TenantAllocation
    var explanation: TenantExplanation
}

/// Ordered key–value results, printed as an aligned table or as JSON.
private struct Report {
    enum Value {
        case text(String)
        case integer(Int)
        case number(Double)
    }

    var fields: [(String, Value)] = []
    var tenants: [TenantLine] = []

    mutating func add(_ key: String, _ value: Value) { fields.append((key, value)) }

    func table() -> String {
        var lines = fields.map { key, value in key.padding(toLength: 18, withPad: " ", startingAt: 0) + render(value) }
        if !tenants.isEmpty {
            lines.append("")
            let widths = [14, 18, 14, 9, 12, 6, 10, 14, 14, 10]
            func row(_ cells: [String]) -> String {
                zip(cells, widths).map { cell, width in cell.padding(toLength: max(width, cell.count + 1), withPad: " ", startingAt: 0) }.joined()
            }
            lines.append(row(["tenant", "class", "cores", "shared", "memory_GiB", "mems", "net_Mbps", "cpu_bound", "memory_bound", "net_bound"]))
            for line in tenants {
                let a = line.allocation, e = line.explanation
                let cells = [
                    e.tenant, e.tenantClass.rawValue, a.exclusiveCoreIDs.map(String.init).joined(separator: ","),
                    String(format: "%.3f", a.sharedCpuCores), String(format: "%.2f", a.memoryMaxBytes / 1_073_741_824), e.memoryNodes.description,
                    a.bandwidthBitsPerSecond.isFinite ? String(format: "%.1f", a.bandwidthBitsPerSecond / 1e6) : "-",
                ] + e.resources.map(\.boundBy.rawValue)
                lines.append(row(cells))
            }
        }
        return lines.joined(separator: "\n")
    }

    func json() throws -> String {
        var object = "{"
        object += fields.map { key, value in "\"\(key)\": " + (value.isText ? "\"\(render(value))\"" : render(value)) }.joined(separator: ", ")
        if !tenants.isEmpty {
            let encoder = JSONEncoder()
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            encoder.outputFormatting = [.sortedKeys]
            object += ", \"tenants\": " + String(decoding: try encoder.encode(tenants), as: UTF8.self)
        }
        return object + "}"
    }

    private func render(_ value: Value) -> String {
        switch value {
        case let .text(text): text
        case let .integer(number): String(number)
        case let .number(number): number.isFinite ? String(format: "%.10g", number) : "\"\(number)\""
        }
    }
}

private extension Report.Value {
    var isText: Bool { if case .text = self { true } else { false } }
}
