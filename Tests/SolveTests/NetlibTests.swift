import Foundation
import Solve
import Testing

/// Every Netlib problem in the shared data folder, solved cold, must reach its published optimum.
@Suite struct NetlibTests {
    /// `shared/data/netlib` beside the repository (the layout of the development and CI machines).
    static let folder: URL = {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        for _ in 0..<6 {
            directory.deleteLastPathComponent()
            let candidate = directory.appendingPathComponent("shared/data/netlib")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
        }
        return directory
    }()

    /// `name, rows, cols, nonzeros, optimal_objective` from `optimal.csv`.
    static let optima: [(name: String, objective: Double)] = {
        guard let text = try? String(contentsOf: folder.appendingPathComponent("optimal.csv"), encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isNewline).dropFirst().map { line in
            let fields = line.split(separator: ",")
            return (String(fields[0]), Double(fields[4])!)
        }
    }()

    @Test func theDataIsThere() {
        #expect(Self.optima.count == 12, "no optimal.csv under \(Self.folder.path)")
    }

    @Test(arguments: Self.optima.map(\.name))
    func solvesToThePublishedOptimum(name: String) throws {
        let expected = try #require(Self.optima.first { $0.name == name }).objective
        let text = try String(contentsOf: Self.folder.appendingPathComponent("\(name).mps"), encoding: .utf8)
        let program = try MPSReader.parse(text)
        let solver = try SimplexSolver(program)
        let status = solver.solve()
        #expect(status == .optimal)
        let relativeError = abs(solver.objective - expected) / max(1, abs(expected))
        #expect(relativeError <= 1e-6, "\(name): objective \(solver.objective), published \(expected), \(solver.iterations) iterations")
    }
}
