/// How a simplex solve ended.
public enum SimplexStatus: String, Sendable, Codable {
    case optimal
    case infeasible
    case unbounded
    case iterationLimit = "iteration-limit"
}

/// Where a variable (a column, or a row's logical variable) sits in the basis.
public enum BasisStatus: UInt8, Sendable {
    case basic = 0
    /// Nonbasic at its lower bound (also used for fixed variables).
    case atLower = 1
    case atUpper = 2
    /// Nonbasic free variable held at zero.
    case free = 3
}

/// A bounded-variable revised simplex solver with a primal (two-phase) and a dual method and warm restarts.
///
/// The program is solved in the computational form `A x − r = 0` with one logical variable `r_i` per row carrying
/// the row's bounds, so every constraint is a bound and the first basis is the logical one. The basis inverse is kept
/// dense and updated in product form after each pivot, and rebuilt from scratch (Gauss–Jordan with partial
/// pivoting) every `refactorInterval` pivots; at the sizes dpm solves (a handful of capacity rows) that is both the
/// simplest and the fastest choice. The matrix is scaled geometrically to powers of two once, at construction.
///
/// Warm start: after `setRowBounds`, `setColumnBounds` or `setCost` the next `solve()` starts from the previous
/// basis and its inverse. Bound changes keep the basis dual feasible, so the dual simplex repairs primal
/// feasibility in a few pivots; cost changes that break dual feasibility fall back to the primal method.
///
/// Anti-cycling: Harris' two-pass ratio tests (with tolerance `tolerance`) pick large pivots among near-ties; after
/// `degenerateLimit` degenerate pivots in a row both methods switch to Bland's smallest-index rule until progress.
///
/// - Important: `solve()` allocates nothing: every work array is sized at construction. Keep one solver per
///   problem shape and change bounds and costs between solves.
public final class SimplexSolver {
    public let rowCount: Int
    public let columnCount: Int
    /// Pivots (and bound flips) done by the last `solve()`.
    public private(set) var iterations = 0
    public private(set) var status: SimplexStatus = .optimal
    /// The iteration cap of one `solve()`.
    public var iterationLimit: Int

    private let maximize: Bool
    private let objectiveOffset: Double
    private let store: SimplexStorage
    private var updatesSinceRefactor = 0
    private var degenerateRun = 0
    /// Whether the reduced costs held from the last solve still belong to the current basis and costs: bound
    /// changes keep them, a cost change or a new basis does not.
    private var dualsCurrent = false
    /// Whether a coefficient of a basic column changed since the last factorization: the next solve refactors.
    private var basisMatrixChanged = false
    /// Cost changes of basic columns folded into the duals since they were last computed in full.
    private var dualShifts = 0
    /// Whether every nonbasic variable not marked changed still sits where the last solve left it, with the movable
    /// set (`movableCount` of them) to match: then the next solve places only the changed ones. A primal solve, a
    /// basic cost change (it moves many reduced costs) or a coefficient change clears it.
    private var placementCurrent = false
    private var movableCount = 0
    /// Solves placed incrementally since the last full placement (which also recomputes the basic values afresh).
    private var incrementalPlacements = 0
    private static let tolerance = 1e-9
    private static let pivotTolerance = 1e-9
    private static let refactorInterval = 100
    private static let degenerateLimit = 40
    /// Basic cost changes folded into the duals before they are recomputed from scratch (rounding stays small).
    private static let dualShiftLimit = 100
    /// Incremental placements between full ones (the basic values' rounding stays small).
    private static let incrementalPlacementLimit = 50

    /// Prepares a solver for `program`: validates and scales it and sets up the logical basis.
    public init(_ program: LinearProgram) throws(SolveError) {
        try program.validate()
        rowCount = program.rowCount
        columnCount = program.columnCount
        maximize = program.maximize
        objectiveOffset = program.objectiveOffset
        iterationLimit = 100 * (program.rowCount + program.columnCount) + 1000
        store = SimplexStorage(program)
        store.scale(program)
        store.loadCostsAndBounds(program, negateCosts: program.maximize)
        store.setLogicalBasis()
        _ = refactor()
    }

    // MARK: Changing the problem between solves

    /// Changes the bounds of row `row`; the next `solve()` starts from the current basis.
    public func setRowBounds(_ row: Int, lower: Double, upper: Double) {
        let scale = store.rowScale[row], v = columnCount + row
        let scaledLower = lower * scale, scaledUpper = upper * scale
        if store.lower[v] == scaledLower, store.upper[v] == scaledUpper { return }
        let wasFixed = store.lower[v] == store.upper[v]
        store.lower[v] = scaledLower
        store.upper[v] = scaledUpper
        store.markChanged(v)
        if wasFixed, lower != upper, dualsCurrent { store.refreshReducedCost(v) }
    }

    /// Changes the bounds of column `column`; the next `solve()` starts from the current basis.
    @inline(__always)
    public func setColumnBounds(_ column: Int, lower: Double, upper: Double) {
        let scale = store.columnScale[column]
        let scaledLower = lower / scale, scaledUpper = upper / scale
        if store.lower[column] == scaledLower, store.upper[column] == scaledUpper { return }
        let wasFixed = store.lower[column] == store.upper[column]
        store.lower[column] = scaledLower
        store.upper[column] = scaledUpper
        store.markChanged(column)
        if wasFixed, lower != upper, dualsCurrent { store.refreshReducedCost(column) }
    }

    /// Changes the objective coefficient of column `column` (in the program's own sense, min or max).
    @inline(__always)
    public func setCost(_ column: Int, _ cost: Double) {
        let scaled = (maximize ? -cost : cost) * store.columnScale[column]
        let old = store.cost[column]
        if old != scaled {
            store.cost[column] = scaled
            // A nonbasic column's cost moves only its own reduced cost; a basic one's moves the row prices by its
            // row of the basis inverse, and the reduced costs of the columns on those rows.
            if store.state[column] != BasisStatus.basic.rawValue {
                // d_j = c_j − yᵀa_j with y unchanged: a movable column's reduced cost (kept current by the pivots)
                // moves by the cost's move, without the dot product; a fixed one's is refreshed.
                if dualsCurrent {
                    if store.lower[column] == store.upper[column] { store.refreshReducedCost(column) } else { store.d[column] += scaled - old }
                }
                store.markChanged(column)
            } else if dualsCurrent, dualShifts < Self.dualShiftLimit, let position = store.basisPosition(of: column) {
                store.shiftDuals(basisPosition: position, by: scaled - old)
                dualShifts += 1
                placementCurrent = false
            } else {
                dualsCurrent = false
            }
        }
    }

    /// Changes the matrix entry at (`row`, `column`), which must be one the program was built with: its value may go
    /// to zero and back, but which entries exist is fixed at construction. Changing a nonbasic column keeps the
    /// basis and its inverse; changing a basic one makes the next `solve()` refactor the basis first.
    public func setCoefficient(row: Int, column: Int, _ coefficient: Double) {
        guard let k = store.entry(row: row, column: column) else {
            preconditionFailure("column \(column) has no entry in row \(row) to change")
        }
        let scaled = coefficient * store.rowScale[row] * store.columnScale[column]
        if store.value[k] == scaled { return }
        store.value[k] = scaled
        placementCurrent = false
        if store.state[column] == BasisStatus.basic.rawValue {
            basisMatrixChanged = true
            dualsCurrent = false
        } else if dualsCurrent {
            store.refreshReducedCost(column)
        }
    }

    /// Current matrix entry at (`row`, `column`), in the program's units (0 where the program has none).
    public func coefficient(row: Int, column: Int) -> Double {
        guard let k = store.entry(row: row, column: column) else { return 0 }
        return store.value[k] / (store.rowScale[row] * store.columnScale[column])
    }

    /// Current bounds of a row, in the program's units.
    public func rowBounds(_ row: Int) -> (lower: Double, upper: Double) {
        let scale = store.rowScale[row], v = columnCount + row
        return (store.lower[v] / scale, store.upper[v] / scale)
    }

    /// Current bounds of a column, in the program's units.
    public func columnBounds(_ column: Int) -> (lower: Double, upper: Double) {
        let scale = store.columnScale[column]
        return (store.lower[column] * scale, store.upper[column] * scale)
    }

    /// Current objective coefficient of a column, in the program's own sense.
    public func cost(_ column: Int) -> Double {
        let value = store.cost[column] / store.columnScale[column]
        return maximize ? -value : value
    }

    /// Forgets the basis and starts the next `solve()` from the logical basis (a cold solve).
    public func resetBasis() {
        basisMatrixChanged = false
        placementCurrent = false
        store.setLogicalBasis()
        _ = refactor()
        dualsCurrent = false
    }

    // MARK: Solving

    /// Solves from the current basis: dual simplex when the basis is dual feasible, else primal phases 1 and 2.
    @discardableResult
    public func solve() -> SimplexStatus {
        iterations = 0
        degenerateRun = 0
        if basisMatrixChanged {
            basisMatrixChanged = false
            _ = refactor()
            dualsCurrent = false
        }
        let placesChangedOnly = placementCurrent && dualsCurrent && incrementalPlacements < Self.incrementalPlacementLimit
        if !dualsCurrent {
            store.computeDuals(phaseOne: false)
            dualShifts = 0
        }
        let dualFeasible: Bool
        if placesChangedOnly {
            dualFeasible = store.placeChanged(dualTolerance: Self.tolerance, movableCount: &movableCount)
            incrementalPlacements += 1
        } else {
            dualFeasible = store.placeNonbasic(dualTolerance: Self.tolerance, movableCount: &movableCount)
            incrementalPlacements = 0
        }
        // The dual path keeps the placement and the movable set; the primal one does not.
        placementCurrent = dualFeasible
        status = solveFromCurrentPoint(dualFeasible: dualFeasible)
        dualsCurrent = status == .optimal
        placementCurrent = placementCurrent && dualsCurrent
        return status
    }

    private func solveFromCurrentPoint(dualFeasible: Bool) -> SimplexStatus {
        guard dualFeasible else { return runPrimal() }
        if store.isPrimalFeasible(Self.tolerance) {
            // Primal and dual feasible: the basis is still optimal (row prices are current with the reduced costs).
            return .optimal
        }
        // The dual simplex ends primal and dual feasible: optimal. Its reduced costs are current; the row prices are
        // refreshed for the duals the caller reads.
        let dualStatus = runDual()
        if dualStatus == .optimal { store.computeRowPrices() }
        return dualStatus
    }

    // MARK: Results (in the program's units and sense)

    /// Objective value at the current point.
    public var objective: Double {
        var sum = 0.0
        for j in 0..<columnCount { sum += store.cost[j] * store.x[j] }
        return (maximize ? -sum : sum) + objectiveOffset
    }

    public func columnValue(_ column: Int) -> Double { store.x[column] * store.columnScale[column] }

    /// The row's activity `a_i x`.
    public func rowActivity(_ row: Int) -> Double { store.x[columnCount + row] / store.rowScale[row] }

    /// Change of the objective per unit increase of the row's active bound (zero when the row is not binding).
    public func rowDual(_ row: Int) -> Double {
        let value = store.y[row] * store.rowScale[row]
        return maximize ? -value : value
    }

    /// Change of the objective per unit increase of the column at its bound (zero for basic columns).
    public func reducedCost(_ column: Int) -> Double {
        if store.state[column] == BasisStatus.basic.rawValue { return 0 }
        let value = store.d[column] / store.columnScale[column]
        return maximize ? -value : value
    }

    public func basisStatus(ofColumn column: Int) -> BasisStatus { BasisStatus(rawValue: store.state[column])! }

    public func basisStatus(ofRow row: Int) -> BasisStatus { BasisStatus(rawValue: store.state[columnCount + row])! }

    // MARK: Primal simplex

    /// Primal simplex from the current basis: phase 1 minimises the sum of bound violations of basic variables,
    /// phase 2 the objective. Returns `.infeasible` when phase 1 stops with violations left.
    private func runPrimal() -> SimplexStatus {
        let s = store, m = rowCount, total = columnCount + rowCount, tol = Self.tolerance
        while true {
            if iterations >= iterationLimit { return .iterationLimit }
            if updatesSinceRefactor >= Self.refactorInterval { _ = refactor(); s.computePrimal() }
            let phaseOne = !s.isPrimalFeasible(tol)
            s.computeDuals(phaseOne: phaseOne)
            let bland = degenerateRun > Self.degenerateLimit
            // Pricing: Dantzig's largest reduced cost, or the smallest eligible index under Bland's rule.
            var entering = -1, best = 0.0
            for j in 0..<total {
                let state = s.state[j]
                if state == BasisStatus.basic.rawValue || s.lower[j] == s.upper[j] { continue }
                let dj = s.d[j]
                let gain: Double
                switch state {
                case BasisStatus.atLower.rawValue: gain = -dj
                case BasisStatus.atUpper.rawValue: gain = dj
                default: gain = abs(dj)
                }
                if gain > tol, gain > best {
                    entering = j
                    best = gain
                    if bland { break }
                }
            }
            if entering < 0 { return phaseOne ? .infeasible : .optimal }
            let direction: Double = s.state[entering] == BasisStatus.atUpper.rawValue || (s.state[entering] == BasisStatus.free.rawValue && s.d[entering] > 0) ? -1 : 1
            s.ftran(entering)

            // Ratio test over basic variables; a basic variable moves by −direction·alpha_i per unit step.
            var limit = Double.infinity
            // Pass 1 (Harris): the largest step allowed with every bound relaxed by the tolerance.
            let relax = bland ? 0 : tol
            for i in 0..<m {
                let rate = -direction * s.alpha[i]
                if abs(rate) <= Self.pivotTolerance { continue }
                if let gap = s.gapToBlockingBound(basisPosition: i, rate: rate, tolerance: tol) {
                    limit = min(limit, (gap + relax) / abs(rate))
                }
            }
            // Pass 2: among rows whose exact ratio is within the relaxed limit, the largest |rate| (or, under Bland, the
            // smallest variable index among the exact minima).
            var leaving = -1, leavingRate = 0.0, step = Double.infinity
            for i in 0..<m {
                let rate = -direction * s.alpha[i]
                if abs(rate) <= Self.pivotTolerance { continue }
                guard let gap = s.gapToBlockingBound(basisPosition: i, rate: rate, tolerance: tol) else { continue }
                let ratio = max(0, gap) / abs(rate)
                if ratio > limit { continue }
                let better = bland
                    ? (ratio < step || (ratio == step && s.head[i] < s.head[leaving]))
                    : abs(rate) > abs(leavingRate)
                if leaving < 0 || better {
                    leaving = i
                    leavingRate = rate
                    step = ratio
                }
            }
            let range = s.upper[entering] - s.lower[entering]
            if range < Double.infinity, range <= min(limit, step) {
                // The entering variable reaches its other bound first: flip it, the basis stays.
                s.moveEntering(entering, by: direction * range)
                s.state[entering] = direction > 0 ? BasisStatus.atUpper.rawValue : BasisStatus.atLower.rawValue
                s.x[entering] = direction > 0 ? s.upper[entering] : s.lower[entering]
                iterations += 1
                degenerateRun = 0
                continue
            }
            if leaving < 0 {
                if phaseOne { _ = refactor(); s.computePrimal(); iterations += 1; continue }
                return .unbounded
            }
            degenerateRun = step <= tol ? degenerateRun + 1 : 0
            let leavingVariable = s.head[leaving]
            let hitsLower = s.blockingBoundIsLower(basisPosition: leaving, rate: leavingRate, tolerance: tol)
            s.moveEntering(entering, by: direction * step)
            s.x[leavingVariable] = hitsLower ? s.lower[leavingVariable] : s.upper[leavingVariable]
            s.state[leavingVariable] = hitsLower ? BasisStatus.atLower.rawValue : BasisStatus.atUpper.rawValue
            pivot(position: leaving, entering: entering)
            iterations += 1
        }
    }

    // MARK: Dual simplex

    /// Dual simplex from a dual-feasible basis (reduced costs current on entry): drives out the basic variable that violates its bounds most. The
    /// ratio test is the bound-flipping ("long-step") one: walking along the pivot row in order of the dual ratios,
    /// each boxed candidate passed is flipped to its other bound for as long as the leaving variable still stays
    /// short of its bound, so one pivot crosses many breakpoints of a piecewise-linear cost. Reduced costs are
    /// updated from the pivot row instead of being recomputed. Starts from the movable set the placement filled.
    private func runDual() -> SimplexStatus {
        let s = store, m = rowCount, tol = Self.tolerance
        var movableCount = self.movableCount
        // Kept for the next solve's incremental placement.
        defer { self.movableCount = movableCount }
        while true {
            if iterations >= iterationLimit { return .iterationLimit }
            if updatesSinceRefactor >= Self.refactorInterval {
                _ = refactor()
                s.computePrimal()
                s.computeDuals(phaseOne: false)
                movableCount = s.collectMovable()
            }
            let bland = degenerateRun > Self.degenerateLimit
            var leaving = -1, worst = 0.0
            for i in 0..<m {
                let v = s.head[i], value = s.x[v]
                let violation = max(s.lower[v] - value, value - s.upper[v])
                if violation <= tol { continue }
                let better = bland ? (leaving < 0 || v < s.head[leaving]) : violation > worst
                if better {
                    leaving = i
                    worst = violation
                }
            }
            if leaving < 0 { return .optimal }
            let leavingVariable = s.head[leaving]
            let toLower = s.x[leavingVariable] < s.lower[leavingVariable]
            let rowResult = s.computePivotRow(leaving, toLower: toLower, pivotTolerance: Self.pivotTolerance, movableCount: movableCount)
            var candidates = rowResult.candidates
            if candidates == 0 { return .infeasible }
            // Walk the breakpoints: flip boxed candidates while the leaving variable's infeasibility stays positive.
            var slope = worst, entering = -1, flips = 0
            while let j = s.popCandidate(count: &candidates) {
                let range = s.upper[j] - s.lower[j]
                let drop = abs(s.rowAlpha[j]) * range
                if !bland, range < .infinity, candidates > 0, slope - drop > tol {
                    s.flipList[flips] = j
                    flips += 1
                    slope -= drop
                    continue
                }
                entering = j
                break
            }
            let enteringAlpha = s.rowAlpha[entering]
            let dualStep = s.d[entering] / enteringAlpha
            degenerateRun = abs(dualStep) <= tol ? degenerateRun + 1 : 0
            s.ftran(entering)
            let pivotValue = s.alpha[leaving]
            if abs(pivotValue) <= Self.pivotTolerance || abs(pivotValue - enteringAlpha) > 1e-6 * (1 + abs(pivotValue)) {
                // The row and the column disagree: the inverse has drifted. Rebuild it and try again (no flip done).
                _ = refactor()
                s.computePrimal()
                s.computeDuals(phaseOne: false)
                movableCount = s.collectMovable()
                iterations += 1
                continue
            }
            s.applyFlips(flips)
            let bound = toLower ? s.lower[leavingVariable] : s.upper[leavingVariable]
            let enteringChange = (s.x[leavingVariable] - bound) / pivotValue
            s.moveEntering(entering, by: enteringChange)
            s.x[leavingVariable] = bound
            s.state[leavingVariable] = toLower ? BasisStatus.atLower.rawValue : BasisStatus.atUpper.rawValue
            s.updateReducedCosts(step: dualStep, entering: entering, leaving: leavingVariable, pivotRowCount: rowResult.variables)
            pivot(position: leaving, entering: entering)
            movableCount = s.updateMovable(entering: entering, leaving: leavingVariable, count: movableCount)
            iterations += 1
        }
    }

    // MARK: Basis bookkeeping

    private func pivot(position: Int, entering: Int) {
        store.updateInverse(pivotPosition: position)
        store.head[position] = entering
        store.state[entering] = BasisStatus.basic.rawValue
        updatesSinceRefactor += 1
    }

    /// Rebuilds the basis inverse; a singular basis is repaired by swapping in logical variables.
    private func refactor() -> Bool {
        updatesSinceRefactor = 0
        let kept = store.invertBasis()
        if !kept { dualsCurrent = false }
        return kept
    }
}
