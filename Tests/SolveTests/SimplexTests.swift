import Solve
import Testing

/// Small programs whose answers are known by hand: statuses, duals, free and negative variables, degeneracy and
/// warm restarts.
@Suite struct SimplexTests {
    /// max 3x + 2y  s.t.  x + y ≤ 4,  x + 3y ≤ 7,  x ≤ 3: optimum x = 3, y = 1, objective 11 (row b slack).
    static func textbook() -> LinearProgram {
        var p = LinearProgram(name: "textbook")
        p.maximize = true
        let a = p.addRow(name: "a", lower: -.infinity, upper: 4)
        let b = p.addRow(name: "b", lower: -.infinity, upper: 7)
        p.addColumn(name: "x", cost: 3, lower: 0, upper: 3, entries: [(a, 1), (b, 1)])
        p.addColumn(name: "y", cost: 2, entries: [(a, 1), (b, 3)])
        return p
    }

    @Test func solvesATextbookMaximisation() throws {
        let solver = try SimplexSolver(Self.textbook())
        #expect(solver.solve() == .optimal)
        #expect(abs(solver.objective - 11) < 1e-9)
        #expect(abs(solver.columnValue(0) - 3) < 1e-9)
        #expect(abs(solver.columnValue(1) - 1) < 1e-9)
        // Row a binds with shadow price 2 (one more unit of a's capacity buys one more y); row b is slack.
        #expect(abs(solver.rowDual(0) - 2) < 1e-9)
        #expect(abs(solver.rowDual(1)) < 1e-9)
        #expect(solver.basisStatus(ofRow: 0) == .atUpper)
        #expect(solver.basisStatus(ofColumn: 0) == .atUpper)
    }

    /// A changed matrix entry, of a nonbasic column and of a basic one, gives the optimum a cold solve of the changed
    /// program gives; an entry set to zero and back restores the first answer.
    @Test func changedCoefficientsMatchColdSolves() throws {
        let solver = try SimplexSolver(Self.textbook())
        #expect(solver.solve() == .optimal)
        var changed = Self.textbook()
        for (column, row, coefficient) in [(1, 1, 2.0), (0, 0, 2.0), (1, 0, 0.0), (1, 0, 1.0), (0, 0, 1.0), (1, 1, 3.0)] {
            solver.setCoefficient(row: row, column: column, coefficient)
            changed.values[changed.columnStarts[column] + row] = coefficient
            let cold = try SimplexSolver(changed)
            #expect(solver.solve() == cold.solve())
            #expect(abs(solver.objective - cold.objective) < 1e-9, "a[\(row)][\(column)] = \(coefficient)")
            #expect(solver.coefficient(row: row, column: column) == coefficient)
        }
        #expect(abs(solver.objective - 11) < 1e-9)
    }

    @Test func reportsInfeasible() throws {
        var p = LinearProgram()
        let r = p.addRow(name: "r", lower: 5, upper: .infinity)
        p.addColumn(name: "x", cost: 1, lower: 0, upper: 2, entries: [(r, 1)])
        p.addColumn(name: "y", cost: 1, lower: 0, upper: 2, entries: [(r, 1)])
        #expect(try SimplexSolver(p).solve() == .infeasible)
    }

    @Test func reportsUnbounded() throws {
        var p = LinearProgram()
        let r = p.addRow(name: "r", lower: 1, upper: .infinity)
        p.addColumn(name: "x", cost: -1, entries: [(r, 1)])
        p.addColumn(name: "y", cost: 1, entries: [(r, -1)])
        #expect(try SimplexSolver(p).solve() == .unbounded)
    }

    @Test func handlesFreeAndNegativeVariables() throws {
        // min x + 2y with x free, −5 ≤ y ≤ −1, x − y = 3 ranged by 2 ≤ x + y ≤ 10: x = 3 + y, x + y = 3 + 2y ≥ 2 →
        // y ≥ −0.5 conflicts with y ≤ −1? No: y ∈ [−5, −1] and 3 + 2y ≥ 2 ⇒ y ≥ −0.5: infeasible. Widen: 3+2y ≥ −7.
        var p = LinearProgram()
        let e = p.addRow(name: "e", lower: 3, upper: 3)
        let g = p.addRow(name: "g", lower: -7, upper: 10)
        p.addColumn(name: "x", cost: 1, lower: -.infinity, upper: .infinity, entries: [(e, 1), (g, 1)])
        p.addColumn(name: "y", cost: 2, lower: -5, upper: -1, entries: [(e, -1), (g, 1)])
        let solver = try SimplexSolver(p)
        #expect(solver.solve() == .optimal)
        // objective = 3 + 3y, minimised at y = −5 (then x + y = −7 exactly: the range's lower side binds).
        #expect(abs(solver.columnValue(1) + 5) < 1e-9)
        #expect(abs(solver.columnValue(0) + 2) < 1e-9)
        #expect(abs(solver.objective + 12) < 1e-9)
    }

    @Test func survivesADegenerateCyclingExample() throws {
        // Beale's classic cycling example (cycles under Dantzig's rule with naive tie-breaking); optimum −1/20.
        var p = LinearProgram()
        let r1 = p.addRow(name: "r1", lower: -.infinity, upper: 0)
        let r2 = p.addRow(name: "r2", lower: -.infinity, upper: 0)
        let r3 = p.addRow(name: "r3", lower: -.infinity, upper: 1)
        p.addColumn(name: "x4", cost: -0.75, entries: [(r1, 0.25), (r2, 0.5)])
        p.addColumn(name: "x5", cost: 150, entries: [(r1, -60), (r2, -90)])
        p.addColumn(name: "x6", cost: -0.02, entries: [(r1, -0.04), (r2, -0.02), (r3, 1)])
        p.addColumn(name: "x7", cost: 6, entries: [(r1, 9), (r2, 3)])
        let solver = try SimplexSolver(p)
        #expect(solver.solve() == .optimal)
        #expect(abs(solver.objective + 0.05) < 1e-9)
    }

    @Test func warmRestartsAfterBoundChangesMatchColdSolves() throws {
        let program = Self.textbook()
        let warm = try SimplexSolver(program)
        #expect(warm.solve() == .optimal)
        var generator = SplitMix64(seed: 7)
        for _ in 0..<50 {
            let capacity = 2 + 6 * generator.nextUnit()
            let cap = 1 + 4 * generator.nextUnit()
            warm.setRowBounds(0, lower: -.infinity, upper: capacity)
            warm.setColumnBounds(0, lower: 0, upper: cap)
            var changed = program
            changed.rowUpper[0] = capacity
            changed.columnUpper[0] = cap
            let cold = try SimplexSolver(changed)
            #expect(warm.solve() == cold.solve())
            #expect(abs(warm.objective - cold.objective) < 1e-9)
        }
    }

    /// The allocation LP's shape in small: rows of capacity, each column on one row with a box and a cost. Each
    /// round changes a few columns' bounds (fixing and freeing some) and costs and now and then a row's capacity,
    /// as a tick does, so warm solves place only the changed variables; each must match a cold solve.
    @Test func warmRestartsAfterFewChangesMatchColdSolves() throws {
        var generator = SplitMix64(seed: 21)
        var program = LinearProgram(name: "boxes")
        for i in 0..<4 { program.addRow(name: "r\(i)", lower: -.infinity, upper: 2 + 2 * generator.nextUnit()) }
        for j in 0..<40 {
            program.addColumn(name: "c\(j)", cost: -1 + 2 * generator.nextUnit(), lower: 0, upper: generator.nextUnit(),
                              entries: [(j % 4, 0.5 + generator.nextUnit())])
        }
        let warm = try SimplexSolver(program)
        #expect(warm.solve() == .optimal)
        for round in 0..<200 {
            for _ in 0..<(1 + Int(generator.next() % 3)) {
                let j = Int(generator.next() % 40)
                let upper = generator.nextUnit() < 0.2 ? 0 : generator.nextUnit()
                let cost = -1 + 2 * generator.nextUnit()
                program.columnUpper[j] = upper
                program.costs[j] = cost
                warm.setColumnBounds(j, lower: 0, upper: upper)
                warm.setCost(j, cost)
            }
            if round % 9 == 0 {
                let i = Int(generator.next() % 4), capacity = 1 + 3 * generator.nextUnit()
                program.rowUpper[i] = capacity
                warm.setRowBounds(i, lower: -.infinity, upper: capacity)
            }
            let cold = try SimplexSolver(program)
            #expect(warm.solve() == .optimal)
            #expect(cold.solve() == .optimal)
            #expect(abs(warm.objective - cold.objective) < 1e-9, "round \(round)")
            for i in 0..<4 { #expect(warm.rowActivity(i) <= program.rowUpper[i] + 1e-9, "round \(round) row \(i)") }
        }
    }

    @Test func warmRestartAfterACostChangeFallsBackToPrimal() throws {
        let solver = try SimplexSolver(Self.textbook())
        solver.solve()
        solver.setCost(1, 10) // y now pays far more than x: x = 0, y = 7/3 (row b binds), objective 70/3.
        #expect(solver.solve() == .optimal)
        #expect(abs(solver.columnValue(0)) < 1e-9, "x = \(solver.columnValue(0))")
        #expect(abs(solver.columnValue(1) - 7.0 / 3) < 1e-9, "y = \(solver.columnValue(1))")
        #expect(abs(solver.objective - 70.0 / 3) < 1e-9)
    }

    @Test func refusesNaN() {
        var p = Self.textbook()
        p.rowUpper[0] = .nan
        #expect(throws: SolveError.self) { try SimplexSolver(p) }
    }
}

/// A degenerate vertex (three constraints meet at x = 3, y = 1) solved cold and after a cost change.
@Test func degenerateVertexAndCostChange() throws {
    var p = LinearProgram()
    p.maximize = true
    let a = p.addRow(name: "a", lower: -.infinity, upper: 4)
    let b = p.addRow(name: "b", lower: -.infinity, upper: 6)
    p.addColumn(name: "x", cost: 3, lower: 0, upper: 3, entries: [(a, 1), (b, 1)])
    p.addColumn(name: "y", cost: 2, entries: [(a, 1), (b, 3)])
    let solver = try SimplexSolver(p)
    #expect(solver.solve() == .optimal)
    #expect(abs(solver.objective - 11) < 1e-9)
    solver.setCost(1, 10)
    #expect(solver.solve() == .optimal)
    #expect(abs(solver.objective - 20) < 1e-9, "x = \(solver.columnValue(0)), y = \(solver.columnValue(1))")
}
