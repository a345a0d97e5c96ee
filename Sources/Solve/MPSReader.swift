/// How the fields of an MPS data line are delimited.
public enum MPSFormat: String, Sendable, CaseIterable {
    /// Fields at fixed column positions (2–3, 5–12, 15–22, 25–36, 40–47, 50–61): names may be blank or hold spaces.
    case fixed
    /// Fields separated by white space; a missing set name is told by the number of fields.
    case free
    /// Fixed when every data line keeps the fixed format's separator columns blank, free otherwise.
    case auto
}

/// Reads a linear program in MPS format (fixed or free) from its text: sections NAME, OBJSENSE, ROWS, COLUMNS,
/// RHS, RANGES, BOUNDS (UP, LO, FX, FR, MI, PL, BV, LI, UI) and ENDATA. Pure: the caller reads the file.
///
/// Conventions: the first `N` row is the objective and later `N` rows are dropped; a right-hand side on the
/// objective row is minus the objective's constant; only the first RHS, RANGES and BOUNDS set is used; an `UP`
/// bound below zero on a column whose lower bound is still 0 makes the lower bound −∞ (the classic MPS rule).
public enum MPSReader {
    public static func parse(_ text: String, format: MPSFormat = .auto) throws(SolveError) -> LinearProgram {
        let lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
            Array(line.last == UInt8(ascii: "\r") ? line.dropLast() : line)
        }
        let fixed = format == .fixed || (format == .auto && lines.allSatisfy(looksFixed))
        var reader = MPSBuilder()
        var section = ""
        for (index, bytes) in lines.enumerated() {
            let lineNumber = index + 1
            let text = String(decoding: bytes, as: UTF8.self)
            if bytes.isEmpty || bytes[0] == UInt8(ascii: "*") || text.allSatisfy(\.isWhitespace) { continue }
            let fail = { (reason: String) -> SolveError in .mps(line: lineNumber, text: text, reason: reason) }
            if bytes[0] != UInt8(ascii: " "), bytes[0] != UInt8(ascii: "\t") {
                let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
                section = words[0].uppercased()
                switch section {
                case "NAME": reader.program.name = words.dropFirst().joined(separator: " ")
                case "OBJSENSE":
                    if words.count > 1 { try reader.setSense(words[1], fail) }
                case "ROWS", "COLUMNS", "RHS", "RANGES", "BOUNDS": break
                case "ENDATA": return try reader.finish(fail)
                default: throw fail("unknown section \(words[0])")
                }
                continue
            }
            let fields = fixed ? fixedFields(bytes) : text.split(whereSeparator: \.isWhitespace).map(String.init)
            switch section {
            case "OBJSENSE": try reader.setSense(fields.first { !$0.isEmpty } ?? "", fail)
            case "ROWS": try reader.addRow(fields: fixed ? [fields[0], fields[1]] : fields, fail)
            case "COLUMNS": try reader.addEntries(fields: fixed ? Array(fields[1...]) : fields, fail)
            case "RHS", "RANGES":
                let withSet: [String]
                if fixed { withSet = Array(fields[1...]) } else { withSet = fields.count % 2 == 1 ? fields : [""] + fields }
                try reader.addRightHandSides(fields: withSet, ranges: section == "RANGES", fail)
            case "BOUNDS":
                try reader.addBound(fields: fixed ? Array(fields[0...3]) : freeBoundFields(fields), fail)
            default:
                throw fail("data line outside a known section")
            }
        }
        throw SolveError.mps(line: lines.count, text: "", reason: "the file ends without ENDATA")
    }

    /// The six fixed-format fields of a data line, trimmed (empty when blank or beyond the line's end).
    private static func fixedFields(_ bytes: [UInt8]) -> [String] {
        [(1, 3), (4, 12), (14, 22), (24, 36), (39, 47), (49, 61)].map { start, end in
            guard start < bytes.count else { return "" }
            let slice = bytes[start..<min(end, bytes.count)]
            return String(decoding: slice, as: UTF8.self).trimmingWhitespace()
        }
    }

    /// A data line fits the fixed format when the columns between its fields are blank.
    private static func looksFixed(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first, first == UInt8(ascii: " ") else { return true }
        for column in [0, 3, 12, 13, 22, 23, 36, 37, 38, 47, 48] where column < bytes.count {
            if bytes[column] != UInt8(ascii: " ") { return false }
        }
        return true
    }

    /// Free-format BOUNDS fields as `[type, set, column, value]`, telling a missing set name by the field count.
    private static func freeBoundFields(_ fields: [String]) -> [String] {
        guard let type = fields.first?.uppercased() else { return [] }
        let takesValue = !["FR", "MI", "PL", "BV"].contains(type)
        if type == "BV", fields.count == 3, Double(fields[2]) != nil { return [type, "", fields[1], fields[2]] }
        let hasSet = fields.count == (takesValue ? 4 : 3) || (type == "BV" && fields.count == 4)
        var padded = hasSet ? fields : [type, ""] + fields.dropFirst()
        while padded.count < 4 { padded.append("") }
        return padded
    }
}

/// Accumulates an MPS file's rows, entries and bounds and builds the `LinearProgram`.
private struct MPSBuilder {
    var program = LinearProgram()
    var objectiveRow: String?
    var droppedRows = Set<String>()
    var rowIndex: [String: Int] = [:]
    var rowType: [Character] = []
    var rightHandSide: [Double] = []
    var range: [Double?] = []
    var columnIndex: [String: Int] = [:]
    var entries: [[(row: Int, value: Double)]] = []
    var costs: [Double] = []
    var lower: [Double] = []
    var upper: [Double] = []
    var rhsSet: String?
    var rangeSet: String?
    var boundSet: String?

    mutating func setSense(_ word: String, _ fail: (String) -> SolveError) throws(SolveError) {
        switch word.uppercased() {
        case "MAX", "MAXIMIZE", "MAXIMISE": program.maximize = true
        case "MIN", "MINIMIZE", "MINIMISE": program.maximize = false
        default: throw fail("OBJSENSE must be MIN or MAX, not \(word)")
        }
    }

    mutating func addRow(fields: [String], _ fail: (String) -> SolveError) throws(SolveError) {
        guard fields.count >= 2, !fields[1].isEmpty, let type = fields[0].uppercased().first, fields[0].count == 1 else {
            throw fail("a ROWS line needs a type (N, E, L, G) and a name")
        }
        let name = fields[1]
        if rowIndex[name] != nil || name == objectiveRow || droppedRows.contains(name) { throw fail("row \(name) is defined twice") }
        switch type {
        case "N":
            if objectiveRow == nil { objectiveRow = name } else { droppedRows.insert(name) }
        case "E", "L", "G":
            rowIndex[name] = rowType.count
            rowType.append(type)
            rightHandSide.append(0)
            range.append(nil)
            program.rowNames.append(name)
        default:
            throw fail("row type \(fields[0]) is not N, E, L or G")
        }
    }

    mutating func addEntries(fields: [String], _ fail: (String) -> SolveError) throws(SolveError) {
        guard fields.count >= 3, !fields[0].isEmpty else { throw fail("a COLUMNS line needs a column, a row and a value") }
        if fields[1].uppercased() == "'MARKER'" { return }
        let column: Int
        if let known = columnIndex[fields[0]] {
            column = known
        } else {
            column = costs.count
            columnIndex[fields[0]] = column
            program.columnNames.append(fields[0])
            entries.append([])
            costs.append(0)
            lower.append(0)
            upper.append(.infinity)
        }
        for pair in stride(from: 1, to: fields.count - 1, by: 2) where !fields[pair].isEmpty {
            let value = try number(fields[pair + 1], fail)
            let row = fields[pair]
            if row == objectiveRow {
                costs[column] += value
            } else if let i = rowIndex[row] {
                if entries[column].contains(where: { $0.row == i }) { throw fail("column \(fields[0]) has row \(row) twice") }
                entries[column].append((i, value))
            } else if !droppedRows.contains(row) {
                throw fail("row \(row) is not declared in ROWS")
            }
        }
    }

    mutating func addRightHandSides(fields: [String], ranges: Bool, _ fail: (String) -> SolveError) throws(SolveError) {
        guard fields.count >= 3 else { throw fail("a \(ranges ? "RANGES" : "RHS") line needs a row and a value") }
        // A blank set name (fixed format's empty field, or free format's missing one) belongs to the current set.
        let set = fields[0]
        if !set.isEmpty {
            if ranges {
                if rangeSet == nil { rangeSet = set }
                if rangeSet != set { return }
            } else {
                if rhsSet == nil { rhsSet = set }
                if rhsSet != set { return }
            }
        }
        for pair in stride(from: 1, to: fields.count - 1, by: 2) where !fields[pair].isEmpty {
            let value = try number(fields[pair + 1], fail)
            let row = fields[pair]
            if row == objectiveRow, !ranges {
                program.objectiveOffset = -value
            } else if let i = rowIndex[row] {
                if ranges { range[i] = value } else { rightHandSide[i] = value }
            } else if !droppedRows.contains(row), row != objectiveRow {
                throw fail("row \(row) is not declared in ROWS")
            }
        }
    }

    mutating func addBound(fields: [String], _ fail: (String) -> SolveError) throws(SolveError) {
        guard fields.count == 4, !fields[0].isEmpty, !fields[2].isEmpty else { throw fail("a BOUNDS line needs a type and a column") }
        if !fields[1].isEmpty {
            if boundSet == nil { boundSet = fields[1] }
            if boundSet != fields[1] { return }
        }
        guard let j = columnIndex[fields[2]] else { throw fail("column \(fields[2]) is not declared in COLUMNS") }
        let type = fields[0].uppercased()
        func value() throws(SolveError) -> Double { try number(fields[3], fail) }
        switch type {
        case "UP", "UI":
            let v = try value()
            upper[j] = v
            if v < 0, lower[j] == 0 { lower[j] = -.infinity }
        case "LO", "LI": lower[j] = try value()
        case "FX":
            let v = try value()
            lower[j] = v
            upper[j] = v
        case "FR":
            lower[j] = -.infinity
            upper[j] = .infinity
        case "MI": lower[j] = -.infinity
        case "PL": upper[j] = .infinity
        case "BV":
            lower[j] = 0
            upper[j] = 1
        default: throw fail("bound type \(fields[0]) is not one of UP, LO, FX, FR, MI, PL, BV, LI, UI")
        }
        if lower[j] > upper[j] { throw fail("column \(fields[2]) gets lower bound \(lower[j]) above upper bound \(upper[j])") }
    }

    mutating func finish(_ fail: (String) -> SolveError) throws(SolveError) -> LinearProgram {
        if objectiveRow == nil { throw fail("no objective (N) row in ROWS") }
        for i in rowType.indices {
            let b = rightHandSide[i]
            var low = -Double.infinity, high = Double.infinity
            switch rowType[i] {
            case "E": (low, high) = (b, b)
            case "L": high = b
            default: low = b
            }
            if let r = range[i] {
                switch rowType[i] {
                case "E": if r >= 0 { high = b + r } else { low = b + r }
                case "L": low = b - abs(r)
                default: high = b + abs(r)
                }
            }
            program.rowLower.append(low)
            program.rowUpper.append(high)
        }
        program.costs = costs
        program.columnLower = lower
        program.columnUpper = upper
        for column in entries {
            for entry in column.sorted(by: { $0.row < $1.row }) {
                program.rowIndices.append(entry.row)
                program.values.append(entry.value)
            }
            program.columnStarts.append(program.rowIndices.count)
        }
        return program
    }

    private func number(_ text: String, _ fail: (String) -> SolveError) throws(SolveError) -> Double {
        guard let value = Double(text), value.isFinite else { throw fail("\"\(text)\" is not a finite number") }
        return value
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s = s.dropFirst() }
        while let c = s.last, c.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
