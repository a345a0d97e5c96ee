/// The simplex solver's numbers and the loops over them: the one place in Solve that uses raw memory.
///
/// Every buffer is allocated once, at construction, and freed in `deinit`, so a solve allocates nothing and the
/// inner loops run without bounds checks or exclusivity checks. Variables `0..<n` are the columns, `n..<n+m` the
/// rows' logical variables (column `−e_i`). All values are in the scaled problem's units.
final class SimplexStorage {
    let m: Int
    let n: Int
    // The scaled matrix by columns.
    let columnStart: UnsafeMutablePointer<Int>
    let rowIndex: UnsafeMutablePointer<Int>
    let value: UnsafeMutablePointer<Double>
    let rowScale: UnsafeMutablePointer<Double>
    let columnScale: UnsafeMutablePointer<Double>
    // The same matrix by rows: row i's entries are rowStart[i]..<rowStart[i+1], each a column and the position of
    // its value in `value` (so a changed coefficient is changed once).
    let rowStart: UnsafeMutablePointer<Int>
    let rowColumn: UnsafeMutablePointer<Int>
    let rowEntry: UnsafeMutablePointer<Int>
    // Per variable (n + m).
    let cost: UnsafeMutablePointer<Double>
    let lower: UnsafeMutablePointer<Double>
    let upper: UnsafeMutablePointer<Double>
    let x: UnsafeMutablePointer<Double>
    let d: UnsafeMutablePointer<Double>
    let rowAlpha: UnsafeMutablePointer<Double>
    /// The variables whose `rowAlpha` the last pivot row set (every other movable variable's is zero), and a mark
    /// per variable while it is built.
    let pivotRowVariables: UnsafeMutablePointer<Int>
    let inPivotRow: UnsafeMutablePointer<Bool>
    /// The dual ratio test's candidates as a binary min-heap on (ratio, index), and the variables to flip.
    let candidateIndex: UnsafeMutablePointer<Int>
    let candidateRatio: UnsafeMutablePointer<Double>
    let flipList: UnsafeMutablePointer<Int>
    /// The dual simplex's working set: nonbasic variables that can move (not fixed), and each one's place in it.
    let movable: UnsafeMutablePointer<Int>
    let movablePosition: UnsafeMutablePointer<Int>
    /// Variables whose bounds or cost changed since the last placement (`changedCount` of them), each once.
    let changed: UnsafeMutablePointer<Int>
    let isChanged: UnsafeMutablePointer<Bool>
    var changedCount = 0
    let state: UnsafeMutablePointer<UInt8>
    // Per basis position (m).
    let head: UnsafeMutablePointer<Int>
    let y: UnsafeMutablePointer<Double>
    let alpha: UnsafeMutablePointer<Double>
    let work: UnsafeMutablePointer<Double>
    let pivotRow: UnsafeMutablePointer<Int>
    let rowUsed: UnsafeMutablePointer<Bool>
    // Dense m × m, row-major: the basis inverse and the refactorisation's scratch copies.
    let inverse: UnsafeMutablePointer<Double>
    let scratchBasis: UnsafeMutablePointer<Double>
    let scratchInverse: UnsafeMutablePointer<Double>

    init(_ program: LinearProgram) {
        m = program.rowCount
        n = program.columnCount
        let total = n + m, nonzeros = program.values.count
        func doubles(_ count: Int) -> UnsafeMutablePointer<Double> {
            let p = UnsafeMutablePointer<Double>.allocate(capacity: max(1, count))
            p.initialize(repeating: 0, count: max(1, count))
            return p
        }
        columnStart = .allocate(capacity: n + 1)
        columnStart.initialize(from: program.columnStarts, count: n + 1)
        rowIndex = .allocate(capacity: max(1, nonzeros))
        rowIndex.initialize(from: program.rowIndices, count: nonzeros)
        value = doubles(nonzeros)
        value.update(from: program.values, count: nonzeros)
        rowScale = doubles(m)
        columnScale = doubles(n)
        rowStart = .allocate(capacity: m + 1)
        rowStart.initialize(repeating: 0, count: m + 1)
        rowColumn = .allocate(capacity: max(1, nonzeros))
        rowColumn.initialize(repeating: 0, count: max(1, nonzeros))
        rowEntry = .allocate(capacity: max(1, nonzeros))
        rowEntry.initialize(repeating: 0, count: max(1, nonzeros))
        for k in 0..<nonzeros { rowStart[program.rowIndices[k] + 1] += 1 }
        for i in 0..<m { rowStart[i + 1] += rowStart[i] }
        var cursor = [Int](repeating: 0, count: m)
        for i in 0..<m { cursor[i] = rowStart[i] }
        for j in 0..<n {
            for k in program.columnStarts[j]..<program.columnStarts[j + 1] {
                let i = program.rowIndices[k]
                rowColumn[cursor[i]] = j
                rowEntry[cursor[i]] = k
                cursor[i] += 1
            }
        }
        cost = doubles(total)
        lower = doubles(total)
        upper = doubles(total)
        x = doubles(total)
        d = doubles(total)
        rowAlpha = doubles(total)
        pivotRowVariables = .allocate(capacity: max(1, total))
        pivotRowVariables.initialize(repeating: 0, count: max(1, total))
        inPivotRow = .allocate(capacity: max(1, total))
        inPivotRow.initialize(repeating: false, count: max(1, total))
        candidateIndex = .allocate(capacity: max(1, total))
        candidateIndex.initialize(repeating: 0, count: max(1, total))
        candidateRatio = doubles(total)
        flipList = .allocate(capacity: max(1, total))
        movable = .allocate(capacity: max(1, total))
        movable.initialize(repeating: 0, count: max(1, total))
        movablePosition = .allocate(capacity: max(1, total))
        movablePosition.initialize(repeating: -1, count: max(1, total))
        changed = .allocate(capacity: max(1, total))
        changed.initialize(repeating: 0, count: max(1, total))
        isChanged = .allocate(capacity: max(1, total))
        isChanged.initialize(repeating: false, count: max(1, total))
        flipList.initialize(repeating: 0, count: max(1, total))
        state = .allocate(capacity: max(1, total))
        state.initialize(repeating: 0, count: max(1, total))
        head = .allocate(capacity: max(1, m))
        head.initialize(repeating: 0, count: max(1, m))
        y = doubles(m)
        alpha = doubles(m)
        work = doubles(m)
        pivotRow = .allocate(capacity: max(1, m))
        pivotRow.initialize(repeating: 0, count: max(1, m))
        rowUsed = .allocate(capacity: max(1, m))
        rowUsed.initialize(repeating: false, count: max(1, m))
        inverse = doubles(m * m)
        scratchBasis = doubles(m * m)
        scratchInverse = doubles(m * m)
    }

    deinit {
        candidateIndex.deallocate()
        flipList.deallocate()
        movable.deallocate()
        movablePosition.deallocate()
        changed.deallocate()
        isChanged.deallocate()
        for p in [value, rowScale, columnScale, cost, lower, upper, x, d, rowAlpha, candidateRatio, y, alpha, work, inverse, scratchBasis, scratchInverse] {
            p.deallocate()
        }
        columnStart.deallocate()
        rowIndex.deallocate()
        rowStart.deallocate()
        rowColumn.deallocate()
        rowEntry.deallocate()
        pivotRowVariables.deallocate()
        inPivotRow.deallocate()
        state.deallocate()
        head.deallocate()
        pivotRow.deallocate()
        rowUsed.deallocate()
    }

    // MARK: Set-up

    /// Geometric scaling: a few passes making each row's and column's largest and smallest entries straddle 1,
    /// each factor rounded to a power of two so scaling adds no rounding error.
    func scale(_ program: LinearProgram) {
        for i in 0..<m { rowScale[i] = 1 }
        for j in 0..<n { columnScale[j] = 1 }
        let nonzeros = columnStart[n]
        guard nonzeros > 0 else { return }
        func powerOfTwo(_ v: Double) -> Double { v.isFinite && v > 0 ? Double(sign: .plus, exponent: Int((v.squareRoot()).exponent), significand: 1) : 1 }
        for _ in 0..<6 {
            // Rows: 1 / sqrt(min · max) of |a_ij s_j|.
            for i in 0..<m { work[i] = .infinity; y[i] = 0 }
            for j in 0..<n {
                for k in columnStart[j]..<columnStart[j + 1] {
                    let a = abs(program.values[k]) * columnScale[j], i = rowIndex[k]
                    work[i] = min(work[i], a)
                    y[i] = max(y[i], a)
                }
            }
            for i in 0..<m where y[i] > 0 { rowScale[i] = 1 / powerOfTwo(work[i] * y[i]) }
            for j in 0..<n {
                var low = Double.infinity, high = 0.0
                for k in columnStart[j]..<columnStart[j + 1] {
                    let a = abs(program.values[k]) * rowScale[rowIndex[k]]
                    low = min(low, a)
                    high = max(high, a)
                }
                if high > 0 { columnScale[j] = 1 / powerOfTwo(low * high) }
            }
        }
        for j in 0..<n {
            for k in columnStart[j]..<columnStart[j + 1] {
                value[k] = program.values[k] * rowScale[rowIndex[k]] * columnScale[j]
            }
        }
        for i in 0..<m { work[i] = 0; y[i] = 0 }
    }

    func loadCostsAndBounds(_ program: LinearProgram, negateCosts: Bool) {
        for j in 0..<n {
            cost[j] = (negateCosts ? -program.costs[j] : program.costs[j]) * columnScale[j]
            lower[j] = program.columnLower[j] / columnScale[j]
            upper[j] = program.columnUpper[j] / columnScale[j]
        }
        for i in 0..<m {
            cost[n + i] = 0
            lower[n + i] = program.rowLower[i] * rowScale[i]
            upper[n + i] = program.rowUpper[i] * rowScale[i]
        }
    }

    /// The logical basis: every row's logical variable basic, every column at the bound its cost prefers.
    func setLogicalBasis() {
        for i in 0..<m {
            head[i] = n + i
            state[n + i] = BasisStatus.basic.rawValue
        }
        for j in 0..<n {
            let prefersUpper = cost[j] < 0 && upper[j] < .infinity
            if lower[j] > -.infinity, !prefersUpper {
                state[j] = BasisStatus.atLower.rawValue
            } else if upper[j] < .infinity {
                state[j] = BasisStatus.atUpper.rawValue
            } else {
                state[j] = BasisStatus.free.rawValue
            }
        }
    }

    /// Puts every nonbasic variable on the bound its status names, moving it when that bound became infinite.
    func placeNonbasicOnBounds() {
        for j in 0..<(n + m) {
            let s = state[j]
            if s == BasisStatus.basic.rawValue { continue }
            let lo = lower[j], hi = upper[j]
            if s == BasisStatus.atUpper.rawValue, hi < .infinity {
                x[j] = hi
            } else if lo > -.infinity {
                state[j] = BasisStatus.atLower.rawValue
                x[j] = lo
            } else if hi < .infinity {
                state[j] = BasisStatus.atUpper.rawValue
                x[j] = hi
            } else {
                state[j] = BasisStatus.free.rawValue
                x[j] = 0
            }
        }
    }

    /// The index in `value` of the entry at (`row`, column `j`), nil when the column has none there.
    func entry(row: Int, column j: Int) -> Int? {
        for k in columnStart[j]..<columnStart[j + 1] where rowIndex[k] == row { return k }
        return nil
    }

    // MARK: Primal and dual values

    /// Basic values from the nonbasic ones: x_B = B⁻¹ (−N x_N).
    func computePrimal() {
        for i in 0..<m { work[i] = 0 }
        for j in 0..<(n + m) where state[j] != BasisStatus.basic.rawValue {
            let xj = x[j]
            if xj != 0 { accumulateNonbasic(j, xj) }
        }
        setBasicFromWork()
    }

    /// Adds nonbasic variable j at value `xj` to `work` = −N x_N (a logical variable's column is −e_i).
    @inline(__always)
    private func accumulateNonbasic(_ j: Int, _ xj: Double) {
        if j >= n {
            work[j &- n] += xj
            return
        }
        // A while loop: a Range here would check its bounds once per variable.
        var k = columnStart[j]
        let end = columnStart[j &+ 1]
        while k < end {
            work[rowIndex[k]] -= value[k] * xj
            k &+= 1
        }
    }

    /// x_B = B⁻¹ work.
    private func setBasicFromWork() {
        for i in 0..<m {
            let row = inverse + i * m
            var sum = 0.0
            for k in 0..<m { sum += row[k] * work[k] }
            x[head[i]] = sum
        }
    }

    /// Recomputes one nonbasic variable's reduced cost from the current row prices (for a variable that was fixed,
    /// whose reduced cost the dual simplex does not keep current).
    func refreshReducedCost(_ j: Int) {
        if state[j] == BasisStatus.basic.rawValue { return }
        if j >= n { d[j] = cost[j] + y[j - n]; return }
        var dot = 0.0
        for k in columnStart[j]..<columnStart[j + 1] { dot += y[rowIndex[k]] * value[k] }
        d[j] = cost[j] - dot
    }

    /// The basis position of basic variable `v`, nil when it is not basic.
    func basisPosition(of v: Int) -> Int? {
        for i in 0..<m where head[i] == v { return i }
        return nil
    }

    /// The duals after the cost of the basic variable at basis position `i` rose by `delta`: y += delta · ρ with ρ
    /// row i of B⁻¹, and d_j −= delta · ρ · a_j for every nonbasic variable, visiting only the rows where ρ is
    /// nonzero (the basic variables' reduced costs stay zero).
    func shiftDuals(basisPosition i: Int, by delta: Double) {
        let rho = inverse + i * m
        for k in 0..<m where rho[k] != 0 {
            let change = delta * rho[k]
            y[k] += change
            var e = rowStart[k]
            let end = rowStart[k &+ 1]
            while e < end {
                let j = rowColumn[e]
                if state[j] != BasisStatus.basic.rawValue { d[j] -= change * value[rowEntry[e]] }
                e &+= 1
            }
            // Row k's logical variable (column −e_k): d = c + y_k.
            if state[n &+ k] != BasisStatus.basic.rawValue { d[n &+ k] += change }
        }
    }

    /// Row prices y = c_Bᵀ B⁻¹ for the true costs (the duals reported to the caller).
    func computeRowPrices() {
        for k in 0..<m { y[k] = 0 }
        for i in 0..<m {
            let c = cost[head[i]]
            if c == 0 { continue }
            let row = inverse + i * m
            for k in 0..<m { y[k] += c * row[k] }
        }
    }

    /// Row prices y = c_Bᵀ B⁻¹ and reduced costs d_j = c_j − yᵀ a_j of nonbasic variables. In phase one the costs are
    /// those of the sum of infeasibilities: −1 below a lower bound, +1 above an upper one, 0 elsewhere.
    func computeDuals(phaseOne: Bool) {
        for i in 0..<m {
            let v = head[i]
            if phaseOne {
                let t = 1e-9
                work[i] = x[v] < lower[v] - t ? -1 : (x[v] > upper[v] + t ? 1 : 0)
            } else {
                work[i] = cost[v]
            }
        }
        for k in 0..<m { y[k] = 0 }
        for i in 0..<m {
            let c = work[i]
            if c == 0 { continue }
            let row = inverse + i * m
            for k in 0..<m { y[k] += c * row[k] }
        }
        for j in 0..<n {
            if state[j] == BasisStatus.basic.rawValue { d[j] = 0; continue }
            d[j] = (phaseOne ? 0 : cost[j]) - dot(y, column: j)
        }
        for i in 0..<m {
            let v = n + i
            d[v] = state[v] == BasisStatus.basic.rawValue ? 0 : (phaseOne ? 0 : cost[v]) + y[i]
        }
    }

    func isPrimalFeasible(_ tolerance: Double) -> Bool {
        for i in 0..<m {
            let v = head[i]
            if x[v] < lower[v] - tolerance || x[v] > upper[v] + tolerance { return false }
        }
        return true
    }

    /// Puts every nonbasic variable on a bound, in one pass: the bound its status names, or, when its reduced cost
    /// has the wrong sign for that bound and the other bound is finite, the other one (a flip that keeps the basis
    /// dual feasible). Returns false when a one-sided or free variable is dual infeasible: then only the primal
    /// method applies. Reduced costs must be current. In the same pass it fills the movable set (as
    /// `collectMovable`, its size in `movableCount`) and sets the basic variables' values (as `computePrimal`).
    func placeNonbasic(dualTolerance tolerance: Double, movableCount: inout Int) -> Bool {
        var feasible = true, count = 0
        for i in 0..<m { work[i] = 0 }
        for j in 0..<(n + m) {
            isChanged[j] = false
            if state[j] == BasisStatus.basic.rawValue { movablePosition[j] = -1; continue }
            let xj = boundValue(j, tolerance: tolerance, feasible: &feasible)
            if lower[j] == upper[j] {
                movablePosition[j] = -1
            } else {
                movable[count] = j
                movablePosition[j] = count
                count &+= 1
            }
            x[j] = xj
            if xj != 0 { accumulateNonbasic(j, xj) }
        }
        changedCount = 0
        movableCount = count
        setBasicFromWork()
        return feasible
    }

    /// `placeNonbasic` for the variables marked changed since the last placement, when every other one still sits
    /// where the last solve left it (on a bound its reduced cost agrees with, in the movable set if not fixed): each
    /// changed nonbasic variable goes to its bound, joins or leaves the movable set, and the basic variables move by
    /// B⁻¹ times the columns' moves. A tick that changes few bounds and costs places few variables.
    func placeChanged(dualTolerance tolerance: Double, movableCount: inout Int) -> Bool {
        var feasible = true, count = movableCount, moved = false
        for i in 0..<m { work[i] = 0 }
        for c in 0..<changedCount {
            let j = changed[c]
            isChanged[j] = false
            if state[j] == BasisStatus.basic.rawValue { continue }
            let xj = boundValue(j, tolerance: tolerance, feasible: &feasible)
            let position = movablePosition[j]
            if lower[j] == upper[j] {
                if position >= 0 {
                    count &-= 1
                    let last = movable[count]
                    movable[position] = last
                    movablePosition[last] = position
                    movablePosition[j] = -1
                }
            } else if position < 0 {
                movable[count] = j
                movablePosition[j] = count
                count &+= 1
            }
            let change = xj - x[j]
            x[j] = xj
            if change != 0 {
                accumulateNonbasic(j, change)
                moved = true
            }
        }
        changedCount = 0
        movableCount = count
        if moved {
            for i in 0..<m {
                let row = inverse + i * m
                var sum = 0.0
                for k in 0..<m { sum += row[k] * work[k] }
                x[head[i]] += sum
            }
        }
        return feasible
    }

    /// Records that variable `v`'s bounds or cost changed, for `placeChanged`.
    @inline(__always)
    func markChanged(_ v: Int) {
        if isChanged[v] { return }
        isChanged[v] = true
        changed[changedCount] = v
        changedCount &+= 1
    }

    /// The bound nonbasic variable j goes to, with its status set: the one its status names, or the other when its
    /// reduced cost disagrees and that one is finite (a fixed variable: its lower). Clears `feasible` when a
    /// one-sided or free variable is dual infeasible.
    @inline(__always)
    private func boundValue(_ j: Int, tolerance: Double, feasible: inout Bool) -> Double {
        var s = state[j]
        let lo = lower[j], hi = upper[j], dj = d[j]
        // Fast paths: fixed, or already on a finite bound its reduced cost agrees with.
        if lo == hi {
            state[j] = BasisStatus.atLower.rawValue
            return lo
        }
        if s == BasisStatus.atLower.rawValue, dj >= -tolerance, lo > -.infinity { return lo }
        if s == BasisStatus.atUpper.rawValue, dj <= tolerance, hi < .infinity { return hi }
        if s == BasisStatus.atUpper.rawValue, hi == .infinity { s = BasisStatus.atLower.rawValue }
        if s == BasisStatus.atLower.rawValue, lo == -.infinity { s = hi < .infinity ? BasisStatus.atUpper.rawValue : BasisStatus.free.rawValue }
        if s == BasisStatus.free.rawValue, lo > -.infinity { s = BasisStatus.atLower.rawValue }
        if s == BasisStatus.free.rawValue, hi < .infinity { s = BasisStatus.atUpper.rawValue }
        if s == BasisStatus.atLower.rawValue, dj < -tolerance {
            if hi < .infinity { s = BasisStatus.atUpper.rawValue } else { feasible = false }
        } else if s == BasisStatus.atUpper.rawValue, dj > tolerance {
            if lo > -.infinity { s = BasisStatus.atLower.rawValue } else { feasible = false }
        } else if s == BasisStatus.free.rawValue, abs(dj) > tolerance {
            feasible = false
        }
        state[j] = s
        return s == BasisStatus.atLower.rawValue ? lo : (s == BasisStatus.atUpper.rawValue ? hi : 0)
    }

    // MARK: Pivoting

    /// alpha = B⁻¹ a_j, the entering column in basis coordinates.
    func ftran(_ j: Int) {
        if j >= n {
            let row = j - n
            for i in 0..<m { alpha[i] = -inverse[i * m + row] }
            return
        }
        for i in 0..<m { alpha[i] = 0 }
        for k in columnStart[j]..<columnStart[j + 1] {
            let r = rowIndex[k], v = value[k]
            for i in 0..<m { alpha[i] += inverse[i * m + r] * v }
        }
    }

    /// Moves the entering variable by `change` and the basic variables with it (Δx_B = −alpha · change).
    func moveEntering(_ j: Int, by change: Double) {
        x[j] += change
        for i in 0..<m { x[head[i]] -= alpha[i] * change }
    }

    /// How far basic variable `i` may move at `rate` before it meets a bound: the violated bound it is heading for
    /// (phase 1), else the bound in its direction; nil when nothing stops it.
    func gapToBlockingBound(basisPosition i: Int, rate: Double, tolerance: Double) -> Double? {
        let v = head[i], value = x[v], lo = lower[v], hi = upper[v]
        if rate > 0 {
            if value < lo - tolerance { return lo - value }
            if value > hi + tolerance || hi == .infinity { return nil }
            return hi - value
        }
        if value > hi + tolerance { return value - hi }
        if value < lo - tolerance || lo == -.infinity { return nil }
        return value - lo
    }

    /// Whether the bound `gapToBlockingBound` measured is the lower one.
    func blockingBoundIsLower(basisPosition i: Int, rate: Double, tolerance: Double) -> Bool {
        let v = head[i]
        return rate > 0 ? x[v] < lower[v] - tolerance : !(x[v] > upper[v] + tolerance)
    }

    /// The dual simplex's pivot row, rowAlpha_j = (row r of B⁻¹) · a_j for the variables of the movable set, and a
    /// min-heap on the dual ratio of those that move the leaving variable toward its violated bound (`toLower`: it
    /// lies below its lower bound and must rise). Returns the number of candidates and the number of variables in
    /// `pivotRowVariables` (kept in the caller's locals: a class's stored `var` would cost a dynamic exclusivity check
    /// per access).
    ///
    /// When row r of B⁻¹ is sparse, as it mostly is for the allocation LP (one capacity row per basic piece), the
    /// row is built from the matrix's rows where row r is nonzero: only the variables those rows hold are visited.
    /// Otherwise it is built column by column over the movable set.
    func computePivotRow(_ r: Int, toLower: Bool, pivotTolerance: Double, movableCount: Int) -> (candidates: Int, variables: Int) {
        let rho = inverse + r * m
        var rowWork = 0
        for i in 0..<m where rho[i] != 0 { rowWork &+= rowStart[i &+ 1] &- rowStart[i] &+ 1 }
        var variables = 0
        if rowWork < movableCount {
            for i in 0..<m where rho[i] != 0 {
                let ri = rho[i]
                var k = rowStart[i]
                let end = rowStart[i &+ 1]
                while k < end {
                    let j = rowColumn[k]
                    if movablePosition[j] >= 0 {
                        if !inPivotRow[j] {
                            inPivotRow[j] = true
                            rowAlpha[j] = 0
                            pivotRowVariables[variables] = j
                            variables &+= 1
                        }
                        rowAlpha[j] += ri * value[rowEntry[k]]
                    }
                    k &+= 1
                }
                // Row i's logical variable (column −e_i).
                let logical = n &+ i
                if movablePosition[logical] >= 0 {
                    rowAlpha[logical] = -ri
                    pivotRowVariables[variables] = logical
                    variables &+= 1
                }
            }
            for t in 0..<variables { inPivotRow[pivotRowVariables[t]] = false }
        } else {
            for position in 0..<movableCount {
                let j = movable[position]
                rowAlpha[j] = j < n ? dot(rho, column: j) : -rho[j &- n]
                pivotRowVariables[position] = j
            }
            variables = movableCount
        }
        var count = 0
        for t in 0..<variables {
            let j = pivotRowVariables[t], s = state[j], a = rowAlpha[j]
            if abs(a) <= pivotTolerance { continue }
            let eligible: Bool
            switch s {
            case BasisStatus.atLower.rawValue: eligible = toLower ? a < 0 : a > 0
            case BasisStatus.atUpper.rawValue: eligible = toLower ? a > 0 : a < 0
            default: eligible = true
            }
            if !eligible { continue }
            candidateIndex[count] = j
            candidateRatio[count] = max(0, dualSlack(j)) / abs(a)
            count &+= 1
        }
        var i = count / 2 - 1
        while i >= 0 {
            siftDown(i, count: count)
            i -= 1
        }
        return (count, variables)
    }

    /// `v · a_j` for a column; a column with one entry (every allocation column) skips the loop set-up.
    @inline(__always)
    private func dot(_ v: UnsafeMutablePointer<Double>, column j: Int) -> Double {
        let start = columnStart[j], end = columnStart[j &+ 1]
        if end == start &+ 1 { return v[rowIndex[start]] * value[start] }
        var sum = 0.0, k = start
        while k < end {
            sum += v[rowIndex[k]] * value[k]
            k &+= 1
        }
        return sum
    }

    /// Removes and returns the candidate with the smallest ratio (ties: the smallest index), nil when none is left.
    func popCandidate(count: inout Int) -> Int? {
        guard count > 0 else { return nil }
        let top = candidateIndex[0]
        count -= 1
        candidateIndex[0] = candidateIndex[count]
        candidateRatio[0] = candidateRatio[count]
        siftDown(0, count: count)
        return top
    }

    private func precedes(_ a: Int, _ b: Int) -> Bool {
        candidateRatio[a] < candidateRatio[b] || (candidateRatio[a] == candidateRatio[b] && candidateIndex[a] < candidateIndex[b])
    }

    /// The sifted candidate waits in registers while each smaller child moves up into the hole above it, instead
    /// of a swap per level: the same comparisons (the smallest of it and its children, a strict order) and the same
    /// heap, in fewer loads and stores.
    private func siftDown(_ start: Int, count candidateCount: Int) {
        let ratio = candidateRatio[start], index = candidateIndex[start]
        var i = start
        while true {
            let left = 2 &* i &+ 1
            if left >= candidateCount { break }
            let right = left &+ 1
            let child = right < candidateCount && precedes(right, left) ? right : left
            let childRatio = candidateRatio[child], childIndex = candidateIndex[child]
            if !(childRatio < ratio || (childRatio == ratio && childIndex < index)) { break }
            candidateRatio[i] = childRatio
            candidateIndex[i] = childIndex
            i = child
        }
        candidateRatio[i] = ratio
        candidateIndex[i] = index
    }

    /// Moves the first `flipCount` variables of `flipList` to their other bound and the basic variables with them.
    func applyFlips(_ flipCount: Int) {
        guard flipCount > 0 else { return }
        for i in 0..<m { work[i] = 0 }
        for f in 0..<flipCount {
            let j = flipList[f]
            let toUpper = state[j] == BasisStatus.atLower.rawValue
            let change = toUpper ? upper[j] - lower[j] : lower[j] - upper[j]
            state[j] = toUpper ? BasisStatus.atUpper.rawValue : BasisStatus.atLower.rawValue
            x[j] = toUpper ? upper[j] : lower[j]
            if j >= n {
                work[j - n] += change
            } else {
                for k in columnStart[j]..<columnStart[j + 1] { work[rowIndex[k]] -= value[k] * change }
            }
        }
        for i in 0..<m {
            let row = inverse + i * m
            var sum = 0.0
            for k in 0..<m { sum += row[k] * work[k] }
            x[head[i]] += sum
        }
    }

    /// Dual update after a pivot on the current pivot row, over its variables (the other movable ones have a zero
    /// entry): d_j −= step · rowAlpha_j; the entering variable's reduced cost becomes 0 and the leaving one's −step.
    func updateReducedCosts(step: Double, entering: Int, leaving: Int, pivotRowCount: Int) {
        for t in 0..<pivotRowCount {
            let j = pivotRowVariables[t]
            d[j] -= step * rowAlpha[j]
        }
        d[entering] = 0
        d[leaving] = -step
    }

    /// Fills the movable set with every nonbasic variable that is not fixed; returns its size.
    func collectMovable() -> Int {
        var count = 0
        for j in 0..<(n + m) {
            if state[j] != BasisStatus.basic.rawValue, lower[j] != upper[j] {
                movable[count] = j
                movablePosition[j] = count
                count += 1
            } else {
                movablePosition[j] = -1
            }
        }
        return count
    }

    /// Keeps the movable set right after a pivot: the entering variable leaves it, the leaving one joins it
    /// unless fixed. Returns the new size.
    func updateMovable(entering: Int, leaving: Int, count: Int) -> Int {
        var count = count
        let position = movablePosition[entering]
        if position >= 0 {
            count -= 1
            let last = movable[count]
            movable[position] = last
            movablePosition[last] = position
            movablePosition[entering] = -1
        }
        if lower[leaving] != upper[leaving] {
            movable[count] = leaving
            movablePosition[leaving] = count
            count += 1
        }
        return count
    }

    /// The reduced cost's distance from changing sign: d_j at a lower bound, −d_j at an upper one, 0 when free.
    func dualSlack(_ j: Int) -> Double {
        switch state[j] {
        case BasisStatus.atLower.rawValue: d[j]
        case BasisStatus.atUpper.rawValue: -d[j]
        default: 0
        }
    }

    /// Product-form update of B⁻¹ after the variable at position `r` leaves and the column `alpha` enters.
    func updateInverse(pivotPosition r: Int) {
        let pivotRowPointer = inverse + r * m
        let inversePivot = 1 / alpha[r]
        for k in 0..<m { pivotRowPointer[k] *= inversePivot }
        for i in 0..<m where i != r {
            let factor = alpha[i]
            if factor == 0 { continue }
            let row = inverse + i * m
            for k in 0..<m { row[k] -= factor * pivotRowPointer[k] }
        }
    }

    /// Inverts the basis by Gauss–Jordan elimination with partial pivoting. A column with no usable pivot is
    /// replaced by the logical variable of a row left without a pivot (the old variable goes to a bound) and the
    /// inversion is repeated; returns false when such a repair happened.
    @discardableResult
    func invertBasis() -> Bool {
        let size = m * m
        for k in 0..<size { scratchBasis[k] = 0; scratchInverse[k] = 0 }
        for i in 0..<m { scratchInverse[i * m + i] = 1; rowUsed[i] = false }
        for position in 0..<m {
            let v = head[position]
            if v >= n {
                scratchBasis[(v - n) * m + position] = -1
            } else {
                for k in columnStart[v]..<columnStart[v + 1] { scratchBasis[rowIndex[k] * m + position] = value[k] }
            }
        }
        var repaired = false
        for column in 0..<m {
            var p = -1, best = 1e-11
            for i in 0..<m where !rowUsed[i] && abs(scratchBasis[i * m + column]) > best {
                p = i
                best = abs(scratchBasis[i * m + column])
            }
            pivotRow[column] = p
            if p < 0 { repaired = true; continue }
            rowUsed[p] = true
            let basisRow = scratchBasis + p * m, inverseRow = scratchInverse + p * m
            let inversePivot = 1 / basisRow[column]
            for k in 0..<m { basisRow[k] *= inversePivot; inverseRow[k] *= inversePivot }
            for i in 0..<m where i != p {
                let factor = scratchBasis[i * m + column]
                if factor == 0 { continue }
                let target = scratchBasis + i * m, targetInverse = scratchInverse + i * m
                for k in column..<m { target[k] -= factor * basisRow[k] }
                for k in 0..<m { targetInverse[k] -= factor * inverseRow[k] }
            }
        }
        if repaired {
            var freeRow = 0
            for column in 0..<m where pivotRow[column] < 0 {
                while rowUsed[freeRow] { freeRow += 1 }
                rowUsed[freeRow] = true
                let old = head[column]
                state[old] = lower[old] > -.infinity ? BasisStatus.atLower.rawValue
                    : (upper[old] < .infinity ? BasisStatus.atUpper.rawValue : BasisStatus.free.rawValue)
                head[column] = n + freeRow
                state[n + freeRow] = BasisStatus.basic.rawValue
            }
            placeNonbasicOnBounds()
            invertBasis()
            return false
        }
        for column in 0..<m {
            (inverse + column * m).update(from: scratchInverse + pivotRow[column] * m, count: m)
        }
        return true
    }
}
