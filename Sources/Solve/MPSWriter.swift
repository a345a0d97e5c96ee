/// Writes a linear program as free-format MPS (with OBJSENSE, RANGES and BOUNDS as needed), so GLPK, HiGHS and
/// `dpm solve --mps` can read the same instance. Names must not contain white space.
public enum MPSWriter {
    public static func write(_ program: LinearProgram) -> String {
        var out = "NAME \(program.name.isEmpty ? "dpm" : program.name)\n"
        if program.maximize { out += "OBJSENSE\n    MAX\n" }
        out += "ROWS\n N obj\n"
        for i in 0..<program.rowCount {
            let (low, high) = (program.rowLower[i], program.rowUpper[i])
            let type = low == high ? "E" : (high < .infinity ? "L" : (low > -.infinity ? "G" : "N"))
            out += " \(type) \(program.rowNames[i])\n"
        }
        out += "COLUMNS\n"
        for j in 0..<program.columnCount {
            let name = program.columnNames[j]
            out += " \(name) obj \(number(program.costs[j]))\n"
            for k in program.columnStarts[j]..<program.columnStarts[j + 1] {
                out += " \(name) \(program.rowNames[program.rowIndices[k]]) \(number(program.values[k]))\n"
            }
        }
        out += "RHS\n"
        if program.objectiveOffset != 0 { out += " rhs obj \(number(-program.objectiveOffset))\n" }
        var ranges = ""
        for i in 0..<program.rowCount {
            let (low, high) = (program.rowLower[i], program.rowUpper[i])
            let side = high < .infinity ? high : low
            if side.isFinite, side != 0 { out += " rhs \(program.rowNames[i]) \(number(side))\n" }
            if low > -.infinity, high < .infinity, low != high { ranges += " rng \(program.rowNames[i]) \(number(high - low))\n" }
        }
        if !ranges.isEmpty { out += "RANGES\n" + ranges }
        out += "BOUNDS\n"
        for j in 0..<program.columnCount {
            let name = program.columnNames[j], (low, high) = (program.columnLower[j], program.columnUpper[j])
            if low == high {
                out += " FX bnd \(name) \(number(low))\n"
                continue
            }
            if low == -.infinity && high == .infinity { out += " FR bnd \(name)\n"; continue }
            // UP before LO: an UP below zero alone would make the lower bound −∞ (the MPS rule), the LO restores it.
            if high < .infinity { out += " UP bnd \(name) \(number(high))\n" }
            if low == -.infinity {
                if high >= 0 || high == .infinity { out += " MI bnd \(name)\n" }
            } else if low != 0 || high < 0 {
                out += " LO bnd \(name) \(number(low))\n"
            }
        }
        return out + "ENDATA\n"
    }

    /// Shortest text that reads back as the same Double.
    private static func number(_ value: Double) -> String { "\(value)" }
}
