import Solve
import Testing

@Suite struct MPSReaderTests {
    /// Free MPS with OBJSENSE, a ranged row, negative, free and fixed variables.
    static let free = """
    NAME FREEDEMO
    OBJSENSE
        MAX
    ROWS
     N obj
     L cap
     E bal
     G low
    COLUMNS
     x obj 1 cap 1
     x bal 1
     y obj 2 cap 1
     y low 1
     z obj -1 bal -1
    RHS
     rhs cap 10 bal 2
     low 1
    RANGES
     rng bal 3
    BOUNDS
     MI x
     UP x 8
     LO y -4
     UP y 5
     FR z
    ENDATA
    """

    @Test func readsFreeFormatWithRangesAndBounds() throws {
        let p = try MPSReader.parse(Self.free, format: .auto)
        #expect(p.maximize)
        #expect(p.rowNames == ["cap", "bal", "low"])
        #expect(p.rowLower == [-.infinity, 2, 1])
        #expect(p.rowUpper == [10, 5, .infinity])
        #expect(p.columnLower == [-.infinity, -4, -.infinity])
        #expect(p.columnUpper == [8, 5, .infinity])
        #expect(p.costs == [1, 2, -1])
        // max x + 2y − z, x + y ≤ 10, 2 ≤ x − z ≤ 5, y ≥ 1: y = 5, x = 5, z = x − 5 = 0 → 15.
        let solver = try SimplexSolver(p)
        #expect(solver.solve() == .optimal)
        #expect(abs(solver.objective - 15) < 1e-9)
    }

    @Test func fixedFormatReadsBlankSetNamesByColumn() throws {
        let text = """
        NAME          TINY
        ROWS
         N  COST
         L  LIM1
        COLUMNS
            X1        COST               1.0   LIM1               1.0
        RHS
                      LIM1               4.0
        BOUNDS
         UP BND       X1                 3.0
        ENDATA
        """
        let p = try MPSReader.parse(text, format: .fixed)
        #expect(p.rowUpper == [4])
        #expect(p.columnUpper == [3])
    }

    @Test func aBadNumberNamesItsLine() {
        let text = Self.free.replacingOccurrences(of: "y obj 2", with: "y obj two")
        #expect(throws: SolveError.mps(line: 12, text: " y obj two cap 1", reason: "\"two\" is not a finite number")) {
            try MPSReader.parse(text)
        }
    }

    @Test func anUndeclaredRowNamesItsLine() {
        let text = Self.free.replacingOccurrences(of: " y low 1", with: " y high 1")
        #expect {
            try MPSReader.parse(text)
        } throws: { error in
            guard case let .mps(line, _, reason) = error as? SolveError else { return false }
            return line == 13 && reason.contains("high")
        }
    }

    @Test func missingEndataAndUnknownSectionsAreErrors() {
        #expect(throws: SolveError.self) { try MPSReader.parse("NAME X\nROWS\n N obj\n") }
        #expect {
            try MPSReader.parse("NAME X\nROWZ\n")
        } throws: { error in
            guard case let .mps(line, _, _) = error as? SolveError else { return false }
            return line == 2
        }
    }
}
