/// A linear program in the general bounded form the simplex solver takes:
///
///     minimise    cᵀx + offset
///     subject to  rowLower ≤ A x ≤ rowUpper
///                 columnLower ≤ x ≤ columnUpper
///
/// Infinite bounds (`±.infinity`) mark free sides, so one shape covers ≤, ≥, = and ranged rows, and negative, free
/// and boxed variables. A maximisation problem is stored with `maximize = true` and its original costs; the solver
/// negates them internally.
public struct LinearProgram: Sendable, Hashable {
    public var name: String
    public var rowNames: [String]
    public var columnNames: [String]
    /// Objective coefficient of each column.
    public var costs: [Double]
    /// Constant added to the objective (MPS: minus the right-hand side of the objective row).
    public var objectiveOffset: Double
    public var maximize: Bool
    public var columnLower: [Double]
    public var columnUpper: [Double]
    public var rowLower: [Double]
    public var rowUpper: [Double]
    /// The matrix A by columns (compressed sparse column): column j's entries are `columnStarts[j]..<columnStarts[j+1]`.
    public var columnStarts: [Int]
    public var rowIndices: [Int]
    public var values: [Double]

    public var rowCount: Int { rowLower.count }
    public var columnCount: Int { columnLower.count }

    /// An empty program with no rows and no columns.
    public init(name: String = "") {
        self.name = name
        rowNames = []
        columnNames = []
        costs = []
        objectiveOffset = 0
        maximize = false
        columnLower = []
        columnUpper = []
        rowLower = []
        rowUpper = []
        columnStarts = [0]
        rowIndices = []
        values = []
    }

    /// Appends a row with no entries yet and returns its index.
    @discardableResult
    public mutating func addRow(name: String, lower: Double, upper: Double) -> Int {
        rowNames.append(name)
        rowLower.append(lower)
        rowUpper.append(upper)
        return rowLower.count - 1
    }

    /// Appends a column with its entries `(row, value)` and returns its index. Rows must already exist.
    @discardableResult
    public mutating func addColumn(name: String, cost: Double, lower: Double = 0, upper: Double = .infinity, entries: [(row: Int, value: Double)]) -> Int {
        columnNames.append(name)
        costs.append(cost)
        columnLower.append(lower)
        columnUpper.append(upper)
        for entry in entries where entry.value != 0 {
            rowIndices.append(entry.row)
            values.append(entry.value)
        }
        columnStarts.append(rowIndices.count)
        return costs.count - 1
    }

    /// Checks that the arrays agree in size, indices are in range and no number is NaN.
    public func validate() throws(SolveError) {
        let n = columnCount, m = rowCount
        guard costs.count == n, columnUpper.count == n, columnNames.count == n, columnStarts.count == n + 1,
              rowUpper.count == m, rowNames.count == m, rowIndices.count == values.count,
              columnStarts.last == values.count
        else { throw .invalidProgram(reason: "array sizes disagree") }
        for j in 0..<n {
            if costs[j].isNaN || !costs[j].isFinite { throw .invalidProgram(reason: "cost of \(columnNames[j]) is \(costs[j])") }
            if columnLower[j].isNaN || columnUpper[j].isNaN || columnLower[j] > columnUpper[j] || columnLower[j] == .infinity || columnUpper[j] == -.infinity {
                throw .invalidProgram(reason: "bounds of \(columnNames[j]) are [\(columnLower[j]), \(columnUpper[j])]")
            }
        }
        for i in 0..<m where rowLower[i].isNaN || rowUpper[i].isNaN || rowLower[i] > rowUpper[i] || rowLower[i] == .infinity || rowUpper[i] == -.infinity {
            throw .invalidProgram(reason: "bounds of row \(rowNames[i]) are [\(rowLower[i]), \(rowUpper[i])]")
        }
        for k in values.indices {
            if !(rowIndices[k] >= 0 && rowIndices[k] < m) { throw .invalidProgram(reason: "row index \(rowIndices[k]) out of range") }
            if !values[k].isFinite { throw .invalidProgram(reason: "matrix entry \(values[k]) is not finite") }
        }
    }
}
