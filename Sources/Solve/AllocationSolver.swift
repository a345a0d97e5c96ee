import Pool

/// Turns each tick's forecasts into an allocation: greedy whole cores for latency-critical tenants, then an LP that
/// divides the shared CPU pool, memory and link bandwidth under the `CostModel`.
///
/// One solver serves one tenant table: the LP's columns (cost pieces per tenant and resource, see `CostModel`) and
/// rows (shared CPU, memory, one per link, and on a NUMA host one per node) are built once, and each tick only
/// changes bounds, costs and which node row a tenant's memory counts on, so the LP restarts from the last basis with
/// a few dual simplex pivots. A tenant that leaves is marked absent (its columns get zero bounds); a new tenant
/// table means a new solver.
///
/// Memory and NUMA: a tenant's memory comes from the node of the CPUs it runs on (its exclusive cores, or the
/// shared pool) when they sit on one node, and from every node otherwise (`memoryNode(slot:)`). The memory row
/// holds all tenants to the host's tenant memory; each node's row holds the tenants confined to that node to the
/// node's memory. With sets that are single nodes or the whole host these rows are exactly the condition that
/// every tenant's memory fits on its nodes.
///
/// - Important: `solve(demands:)` allocates nothing in steady state (the workspace lives in the solver). Read the
///   result through the per-slot accessors on the tick; `allocation()` and `explanation(slot:)` build `Pool` values
///   and allocate — call them off the hot path or only when something changed.
public final class AllocationSolver {
    /// Everything a tick reads and writes, kept in one value so the tick runs with one exclusive access to it
    /// instead of a dynamic exclusivity check per element of a class's array.
    var state: AllocationState

    /// Prepares the solver for a tenant table. `previous` (for example the partition the agent found at start)
    /// is the assignment the first tick stays close to.
    public init(host: HostCapacity, specs: [TenantSpec], model: CostModel = CostModel(), previous: Allocation? = nil) throws(SolveError) {
        state = try AllocationState(host: host, specs: specs, model: model, previous: previous)
    }

    public var host: HostCapacity { state.host }
    public var specs: [TenantSpec] { state.specs }
    public var model: CostModel { state.model }
    /// Iterations and status of the last tick's LP.
    public var lpIterations: Int { state.lpIterations }
    public var lpStatus: SimplexStatus { state.lpStatus }

    /// The slot of a tenant in `specs` (the index that `demands` and the accessors use).
    public func slot(named name: String) -> Int? { state.slot(named: name) }

    /// Marks a tenant present or absent; an absent tenant gets nothing and its guarantees are not enforced.
    public func setPresent(_ slot: Int, _ isPresent: Bool) { state.setPresent(slot, isPresent) }

    /// Computes this tick's allocation from each slot's demand forecast (`demands[slot]`).
    ///
    /// Throws `.guaranteesClash` when the guarantees of the present tenants cannot all be met, and `.invalidInput`
    /// for a NaN or negative forecast; the previous result stays readable in both cases.
    public func solve(demands: [TenantDemand]) throws(SolveError) { try state.solve(demands: demands) }

    // MARK: Results of the last tick (raw units)

    /// CPU numbers owned exclusively by `slot`, written into `into` (cleared first); no allocation if it has room.
    public func exclusiveCoreIDs(slot: Int, into cores: inout [Int]) { state.exclusiveCoreIDs(slot: slot, into: &cores) }
    public func exclusiveCoreCount(slot: Int) -> Int { state.placement.held[slot] }
    public func sharedCpuCores(slot: Int) -> Double { state.sharedCpuCores(slot: slot) }
    public func memoryMaxBytes(slot: Int) -> Double { state.memoryMaxBytes(slot: slot) }
    /// Egress bandwidth on the tenant's link; infinite for a tenant without a shaped link.
    public func bandwidthBitsPerSecond(slot: Int) -> Double { state.bandwidthBitsPerSecond(slot: slot) }
    /// The NUMA node `slot`'s memory is confined to (its `cpuset.mems`), nil when it may use every node.
    public func memoryNode(slot: Int) -> Int? { state.memoryNode(slot: slot) }
    /// Every present tenant's memory nodes as a `Pool` value (allocates): the `cpuset.mems` that Enforce writes.
    public func memoryNodePlacement() -> MemoryNodePlacement { state.memoryNodePlacement() }
    /// Value of the LP objective at the last tick's solution (the allocation's total cost minus constants).
    public var lpObjective: Double { state.lp.objective }
    /// The cost model's total for the last tick's amounts: every tenant's terms plus contention.
    public var totalCost: Double { state.totalCost(amounts: Array(state.amount)) }
    /// The cost model's total for other amounts (slot × resource, raw units) under the last tick's demands.
    public func totalCost(amounts: [Double]) -> Double { state.totalCost(amounts: amounts) }
    /// The last tick's bounds and demands of one slot's resource as the LP saw them (raw units; CPU: shared part).
    public func cells(slot: Int, kind: ResourceKind) -> (lower: Double, upper: Double, expected: Double, quantile: Double, previous: Double) {
        state.cells(slot: slot, kind: kind)
    }
    /// What the pool offered the LP on a row: shared CPU cores, tenant memory, a link's bandwidth.
    public func poolCapacity(row: Int) -> Double { state.poolCapacity(row: row) }
    /// The LP as the last tick set it (bounds and costs), for export as MPS and comparison with other solvers.
    public var linearProgram: LinearProgram { state.linearProgram }
    /// The last tick's result as a `Pool.Allocation` (allocates).
    public func allocation() -> Allocation { state.allocation() }
    /// Writes the last tick's result into `allocations[slot]` for every slot (an absent slot gets no cores and no
    /// amounts), reusing each element's core array: allocates nothing once `allocations` holds one element per slot
    /// whose core array has room. The read-back for the tick.
    public func readAllocations(into allocations: inout [TenantAllocation]) { state.readAllocations(into: &allocations) }
    /// The explanation of one slot's last allocation (allocates; for `explain`, not for the tick).
    public func explanation(slot: Int) -> TenantExplanation { state.explanation(slot: slot) }
}

/// The allocation solver's tables and the steps of a tick.
struct AllocationState {
    let host: HostCapacity
    let specs: [TenantSpec]
    /// What the tick needs of each spec, without the strings and arrays whose reference counts a copy would touch.
    let facts: [TenantFacts]
    let model: CostModel
    /// Each slot's cost slopes (its class's weights), looked up once.
    let slopesOfSlot: [CostModel.Slopes]
    var lpIterations = 0
    var lpStatus: SimplexStatus = .optimal

    /// Cost pieces per slot × resource: the cost's breakpoints split a cell's range into four pieces; when a unit
    /// beyond every breakpoint costs more than it gains (stability outweighs utilisation) the LP never uses the
    /// fourth, so it is not built.
    let pieceCount: Int
    static let resourceCount = 3
    let lp: SimplexSolver
    /// The LP's rows and columns as built (bounds and costs of the build, not of a tick).
    let shape: LinearProgram
    var placement: CorePlacement
    let slotByName: [String: Int]
    /// Normalising capacity of each resource: host cores, tenant memory, tenant bandwidth; and its inverse.
    let unit: [Double]
    let inverseUnit: [Double]
    /// Scratch per LP row: the sum of the guarantees (or amounts) it carries.
    var rowLoad: [Double]
    /// Cores left to the shared pool after this tick's placement.
    var sharedPoolCores = 0
    /// LP row of each slot's network columns (−1 without a shaped link), and each link's capacity.
    let linkRow: [Int]
    let linkCapacity: [Double]
    /// Tenant memory of the host (the memory row's capacity) and of each NUMA node.
    let memoryCapacity: Double
    let nodeCapacity: [Double]
    /// Rows `0..<nodeRowStart` are the pools (shared CPU, memory, links), each with its overload column; then one
    /// row per NUMA node when the host has more than one.
    let nodeRowStart: Int
    let rowCount: Int
    /// Node each slot's memory is confined to, −1 for every node (−2: not yet set; the LP is built with every
    /// memory column on every node row); and scratch for working it out.
    var memoryNode: [Int]
    var coreNodeOfSlot: [Int]
    var present: [Bool]
    /// Per slot × resource (index slot * 3 + kind), raw units; read by the explanation.
    let table: CellTable
    var lowerAmount: UnsafeMutableBufferPointer<Double> { table.lowerAmount }
    var upperAmount: UnsafeMutableBufferPointer<Double> { table.upperAmount }
    var expected: UnsafeMutableBufferPointer<Double> { table.expected }
    var quantile: UnsafeMutableBufferPointer<Double> { table.quantile }
    var previous: UnsafeMutableBufferPointer<Double> { table.previous }
    var previousUsed: UnsafeMutableBufferPointer<Double> { table.previousUsed }
    var amount: UnsafeMutableBufferPointer<Double> { table.amount }
    var latencyInflation: UnsafeMutableBufferPointer<Double> { table.latencyInflation }
    /// Each slot's whole-core wish from its demand (`table.coresWish`), and what placement grants of it this tick
    /// (within the budget).
    var coresWanted: [Int]
    /// The core counts the current placement was made for (−1 before the first placement).
    var placedWanted: [Int]
    var hasPrevious = false

    /// Prepares the solver for a tenant table. `previous` (for example the partition the agent found at start)
    /// is the assignment the first tick stays close to.
    init(host: HostCapacity, specs: [TenantSpec], model: CostModel, previous previousAllocation: Allocation?) throws(SolveError) {
        do {
            try host.validate()
            for spec in specs { try spec.validate() }
        } catch {
            throw .invalidInput(field: "host/tenants", reason: error.description)
        }
        try model.validate()
        var names: [String: Int] = [:]
        for (slot, spec) in specs.enumerated() where names.updateValue(slot, forKey: spec.name) != nil {
            throw .invalidInput(field: "tenants", reason: "tenant \(spec.name) is listed twice")
        }
        self.host = host
        self.specs = specs
        facts = specs.map { TenantFacts($0) }
        self.model = model
        slopesOfSlot = specs.map { model.slopes(for: $0.tenantClass) }
        slotByName = names
        let capacity = host.tenantCapacity
        unit = [max(capacity.cpuCores, 1), max(capacity.memoryBytes, 1), max(capacity.networkBitsPerSecond, 1)]
        inverseUnit = unit.map { 1 / $0 }
        memoryCapacity = capacity.memoryBytes
        if host.memoryBytesPerNode.count > 1, let core = host.cores.first(where: { $0.numaNode < 0 || $0.numaNode >= host.memoryBytesPerNode.count }) {
            throw .invalidInput(field: "host.cores", reason: "CPU \(core.id) is on node \(core.numaNode), but memory is given for \(host.memoryBytesPerNode.count) nodes")
        }
        nodeCapacity = host.memoryBytesPerNode.count > 1 ? host.tenantMemoryBytesPerNode : []
        pieceCount = model.stabilityWeight > model.utilisationWeight ? 3 : 4
        rowLoad = Array(repeating: 0, count: 2 + host.links.count + nodeCapacity.count)
        sharedPoolCores = host.cores.count
        let linkIndex = Dictionary(uniqueKeysWithValues: host.links.enumerated().map { ($1.name, $0) })
        var rows: [Int] = []
        for spec in specs {
            guard let name = spec.linkName else { rows.append(-1); continue }
            guard let link = linkIndex[name] else { throw .invalidInput(field: "\(spec.name).link", reason: "no link named \(name) on this host") }
            rows.append(2 + link)
        }
        linkRow = rows
        let totalBandwidth = host.bandwidthBitsPerSecond
        linkCapacity = host.links.map { link in
            max(0, link.bandwidthBitsPerSecond - host.reservedBandwidthBitsPerSecond * link.bandwidthBitsPerSecond / max(totalBandwidth, 1))
        }
        nodeRowStart = 2 + host.links.count
        rowCount = nodeRowStart + nodeCapacity.count
        memoryNode = Array(repeating: -2, count: specs.count)
        coreNodeOfSlot = Array(repeating: -2, count: specs.count)
        present = Array(repeating: true, count: specs.count)
        table = CellTable(slotCount: specs.count)
        coresWanted = Array(repeating: 0, count: specs.count)
        placedWanted = Array(repeating: -1, count: specs.count)
        placement = CorePlacement(host: host, memoryGuarantees: specs.map(\.guaranteed.memoryBytes))
        shape = Self.program(specs: specs, linkRow: rows, nodeRowStart: nodeRowStart, nodeCount: nodeCapacity.count,
                             pieceCount: pieceCount, model: model)
        lp = try SimplexSolver(shape)
        if let previousAllocation { adopt(previousAllocation) }
    }

    /// The LP's shape: rows `cpu`, `memory`, `link<i>`…, `memory-node<k>`…; per slot and resource `pieceCount`
    /// pieces (a memory piece on the memory row and on every node row, until the first tick sets which node it
    /// counts on), then one overload column per pool row (load above the contention threshold). Bounds, costs and
    /// node entries are set every tick.
    private static func program(specs: [TenantSpec], linkRow: [Int], nodeRowStart: Int, nodeCount: Int, pieceCount: Int, model: CostModel) -> LinearProgram {
        var p = LinearProgram(name: "dpm-allocation")
        p.addRow(name: "cpu", lower: -.infinity, upper: 0)
        p.addRow(name: "memory", lower: -.infinity, upper: 0)
        for i in 2..<nodeRowStart { p.addRow(name: "link\(i - 2)", lower: -.infinity, upper: 0) }
        for node in 0..<nodeCount { p.addRow(name: "memory-node\(node)", lower: -.infinity, upper: 0) }
        let memoryEntries = [(row: 1, value: 1.0)] + (0..<nodeCount).map { (row: nodeRowStart + $0, value: 1.0) }
        for (slot, spec) in specs.enumerated() {
            for kind in ResourceKind.allCases {
                let entries = kind == .memory ? memoryEntries : (kind == .cpu ? [(row: 0, value: 1.0)] : (linkRow[slot] < 0 ? [] : [(row: linkRow[slot], value: 1.0)]))
                for piece in 0..<pieceCount {
                    p.addColumn(name: "\(spec.name)/\(kind)/\(piece)", cost: 0, lower: 0, upper: 0, entries: entries)
                }
            }
        }
        for row in 0..<nodeRowStart {
            p.addColumn(name: "overload/\(p.rowNames[row])", cost: model.contentionWeight, lower: 0, upper: 0, entries: [(row, -1)])
        }
        return p
    }

    /// The column of a pool row's overload (load above the contention threshold).
    func overloadColumn(row: Int) -> Int { specs.count * Self.resourceCount * pieceCount + row }

    // MARK: The tick

    /// The slot of a tenant in `specs` (the index that `demands` and the accessors use).
    func slot(named name: String) -> Int? { slotByName[name] }

    /// Marks a tenant present or absent; an absent tenant gets nothing and its guarantees are not enforced.
    mutating func setPresent(_ slot: Int, _ isPresent: Bool) { present[slot] = isPresent }

    /// Computes this tick's allocation from each slot's demand forecast (`demands[slot]`).
    ///
    /// Throws `.guaranteesClash` when the guarantees of the present tenants cannot all be met, and `.invalidInput`
    /// for a NaN or negative forecast; the previous result stays readable in both cases.
    mutating func solve(demands: [TenantDemand]) throws(SolveError) {
        guard demands.count == specs.count else {
            throw .invalidInput(field: "demands", reason: "\(demands.count) forecasts for \(specs.count) tenants")
        }
        try prepareDemands(demands)
        try placeCores()
        try setLinearProgram()
        let status = lp.solve()
        lpIterations = lp.iterations
        lpStatus = status
        guard status == .optimal else {
            // The capacity check above makes the LP feasible and the bounds make it bounded; anything else is a
            // numerical failure: start the next tick cold.
            lp.resetBasis()
            throw .invalidInput(field: "lp", reason: "allocation LP ended \(status.rawValue)")
        }
        readAmounts()
    }

    // MARK: Results of the last tick (raw units)

    /// CPU numbers owned exclusively by `slot`, written into `into` (cleared first); no allocation if it has room.
    func exclusiveCoreIDs(slot: Int, into cores: inout [Int]) {
        cores.removeAll(keepingCapacity: true)
        if placement.held[slot] == 0 { return }
        for c in placement.owner.indices where placement.owner[c] == slot { cores.append(placement.coreIDs[c]) }
    }

    func sharedCpuCores(slot: Int) -> Double { amount[slot * 3 + ResourceKind.cpu.rawValue] }
    func memoryMaxBytes(slot: Int) -> Double { amount[slot * 3 + ResourceKind.memory.rawValue] }
    /// Egress bandwidth on the tenant's link; infinite for a tenant without a shaped link.
    func bandwidthBitsPerSecond(slot: Int) -> Double {
        linkRow[slot] < 0 ? .infinity : amount[slot * 3 + ResourceKind.network.rawValue]
    }

    /// Value of the LP objective at the last tick's solution (the allocation's total cost minus constants).
    var lpObjective: Double { lp.objective }

    /// The cost model's total for other amounts (slot × resource, raw units) under the last tick's demands.
    func totalCost(amounts: [Double]) -> Double {
        var sum = 0.0
        for slot in specs.indices where present[slot] {
            for kind in ResourceKind.allCases where kind != .network || linkRow[slot] >= 0 {
                let cell = slot * 3 + kind.rawValue, scale = unit[kind.rawValue]
                let held = kind == .cpu ? Double(placement.held[slot]) : 0
                sum += model.terms(at: (amounts[cell] + held) / scale, expected: (expected[cell] + held) / scale, quantile: (quantile[cell] + held) / scale,
                                   previous: (previousUsed[cell] + held) / scale, tenantClass: facts[slot].tenantClass).total
            }
        }
        for row in 0..<nodeRowStart {
            var load = 0.0
            for slot in specs.indices where present[slot] {
                let carried = cell(onRow: row, slot: slot)
                if carried >= 0 { load += amounts[carried] }
            }
            let scale = unit[kind(ofRow: row).rawValue]
            sum += model.contention(total: load / scale, capacity: poolCapacity(row: row) / scale)
        }
        return sum
    }

    /// The last tick's demands and bounds per slot × resource as the LP saw them (raw units, shared CPU only):
    /// for comparisons such as a greedy-only answer.
    func cells(slot: Int, kind: ResourceKind) -> (lower: Double, upper: Double, expected: Double, quantile: Double, previous: Double) {
        let cell = slot * 3 + kind.rawValue
        return (lowerAmount[cell], upperAmount[cell], expected[cell], quantile[cell], previousUsed[cell])
    }

    /// What the pool offered the LP on a row: shared CPU cores, tenant memory, a link's bandwidth, a node's memory.
    func poolCapacity(row: Int) -> Double {
        switch row {
        case 0: Double(sharedPoolCores)
        case 1: memoryCapacity
        case ..<nodeRowStart: linkCapacity[row - 2]
        default: nodeCapacity[row - nodeRowStart]
        }
    }

    /// The NUMA node the slot's memory is confined to, nil when it may use every node (also on a one-node host).
    func memoryNode(slot: Int) -> Int? {
        nodeCapacity.isEmpty || memoryNode[slot] < 0 ? nil : memoryNode[slot]
    }

    /// The NUMA nodes of the slot's memory as a set (allocates).
    func memoryNodes(slot: Int) -> CPUSet {
        memoryNode(slot: slot).map { CPUSet([$0]) } ?? CPUSet(0..<max(1, host.memoryBytesPerNode.count))
    }

    /// Every present slot's memory nodes (allocates).
    func memoryNodePlacement() -> MemoryNodePlacement {
        var placement = MemoryNodePlacement()
        for (slot, spec) in specs.enumerated() where present[slot] { placement.nodesByTenant[spec.name] = memoryNodes(slot: slot) }
        return placement
    }

    /// The LP as the last tick set it (bounds and costs), for export as MPS and comparison with other solvers.
    var linearProgram: LinearProgram {
        var program = LinearProgram(name: shape.name)
        for i in 0..<shape.rowCount {
            let (lower, upper) = lp.rowBounds(i)
            program.addRow(name: shape.rowNames[i], lower: lower, upper: upper)
        }
        for j in 0..<shape.columnCount {
            let (lower, upper) = lp.columnBounds(j)
            // The entries as this tick set them (a memory piece's node entries change); zeros are left out.
            let entries = (shape.columnStarts[j]..<shape.columnStarts[j + 1]).map { k in
                (row: shape.rowIndices[k], value: lp.coefficient(row: shape.rowIndices[k], column: j))
            }
            program.addColumn(name: shape.columnNames[j], cost: lp.cost(j), lower: lower, upper: upper, entries: entries)
        }
        return program
    }

    /// The last tick's result as a `Pool.Allocation` (allocates).
    func allocation() -> Allocation {
        var perSlot = Array(repeating: TenantAllocation(), count: specs.count)
        readAllocations(into: &perSlot)
        var result = Allocation()
        for (slot, spec) in specs.enumerated() where present[slot] { result.tenants[spec.name] = perSlot[slot] }
        return result
    }

    /// Every slot's result in `allocations[slot]`, reusing each element's core array.
    func readAllocations(into allocations: inout [TenantAllocation]) {
        if allocations.count != specs.count {
            allocations = Array(repeating: TenantAllocation(), count: specs.count)
        }
        // One exclusive access to the array for the whole pass, not a uniqueness check per field written.
        allocations.withUnsafeMutableBufferPointer { out in
            // Cores in one pass over the host (an absent slot owns none), not one pass per slot.
            for slot in specs.indices { out[slot].exclusiveCoreIDs.removeAll(keepingCapacity: true) }
            for c in placement.owner.indices where placement.owner[c] >= 0 {
                out[placement.owner[c]].exclusiveCoreIDs.append(placement.coreIDs[c])
            }
            for slot in specs.indices {
                guard present[slot] else {
                    out[slot].sharedCpuCores = 0
                    out[slot].memoryMaxBytes = 0
                    out[slot].memoryHighBytes = 0
                    out[slot].memoryMinBytes = 0
                    out[slot].bandwidthBitsPerSecond = 0
                    continue
                }
                let shared = sharedCpuCores(slot: slot), memory = memoryMaxBytes(slot: slot), guaranteedMemory = facts[slot].guaranteed.memoryBytes
                let classFactor = facts[slot].tenantClass == .latencyCritical ? 4.0 : (facts[slot].tenantClass == .burstable ? 2.0 : 1.0)
                out[slot].sharedCpuCores = shared
                out[slot].cpuWeight = max(1, min(10_000, Int((100 * classFactor * max(shared, 0.01)).rounded())))
                out[slot].memoryMaxBytes = memory
                out[slot].memoryHighBytes = max(guaranteedMemory, 0.9 * memory)
                out[slot].memoryMinBytes = guaranteedMemory
                out[slot].bandwidthBitsPerSecond = bandwidthBitsPerSecond(slot: slot)
            }
        }
    }

    // MARK: Steps of a tick

    private mutating func adopt(_ previousAllocation: Allocation) {
        placement.setPrevious { core in
            for (name, given) in previousAllocation.tenants where given.exclusiveCoreIDs.contains(core) { return slotByName[name] }
            return nil
        }
        for (name, given) in previousAllocation.tenants {
            guard let slot = slotByName[name] else { continue }
            previous[slot * 3] = given.sharedCpuCores
            previous[slot * 3 + 1] = given.memoryMaxBytes.isFinite ? given.memoryMaxBytes : 0
            previous[slot * 3 + 2] = given.bandwidthBitsPerSecond.isFinite ? given.bandwidthBitsPerSecond : 0
        }
        hasPrevious = true
    }

    /// Demands after latency sizing; bounds from guarantees and caps; LC core wishes. Only slots whose demand or
    /// presence changed since they were last prepared are worked out again.
    private mutating func prepareDemands(_ demands: [TenantDemand]) throws(SolveError) {
        // Through the table's buffers: as arrays of this struct, each write paid a uniqueness check.
        let table = self.table, isPrepared = table.isPrepared, preparedPresent = table.preparedPresent
        let preparedDemand = table.preparedDemand, coresWish = table.coresWish, latencyInflation = table.latencyInflation
        for slot in specs.indices {
            let demand = demands[slot]
            if isPrepared[slot], preparedPresent[slot] == present[slot], Self.sameNumbers(demand, preparedDemand[slot]) { continue }
            // Cleared first: a forecast that throws leaves the slot to be prepared again next tick.
            isPrepared[slot] = false
            let spec = facts[slot]
            let inflation = model.latencyInflation(measuredWaitNanoseconds: demand.measuredRunQueueWaitP99Nanoseconds, sloNanoseconds: spec.sloNanoseconds)
            latencyInflation[slot] = inflation
            let cpuFactor = inflation / (spec.tenantClass == .latencyCritical ? model.latencyTargetUtilisation : 1)
            if !Self.isFiniteAndNonNegative(demand) {
                try checkForecast(slot: slot, kind: .cpu, demand.cpuCores)
                try checkForecast(slot: slot, kind: .memory, demand.memoryBytes)
                try checkForecast(slot: slot, kind: .network, demand.networkBitsPerSecond)
            }
            // Explicit per kind, not a loop over `allCases`: that array costs a retain and release per tenant.
            let cpu = preparedCell(slot: slot, kind: .cpu, forecast: demand.cpuCores, factor: cpuFactor)
            let memory = preparedCell(slot: slot, kind: .memory, forecast: demand.memoryBytes, factor: 1)
            let network = preparedCell(slot: slot, kind: .network, forecast: demand.networkBitsPerSecond, factor: 1)
            table.setCPUBeforeCores(slot: slot, cpu)
            table.set(cell: slot * 3 + 1, memory)
            table.set(cell: slot * 3 + 2, network)
            coresWish[slot] = 0
            if present[slot], spec.tenantClass == .latencyCritical {
                coresWish[slot] = min(spec.cappedCores, max(spec.guaranteedCores, Int((cpu.quantile - 1e-9).rounded(.up))))
            }
            preparedDemand[slot] = demand
            preparedPresent[slot] = present[slot]
            isPrepared[slot] = true
        }
    }

    /// Whether two forecasts carry the same numbers for the solver (their confidence is not one of them); compared
    /// field by field, which costs a tenth of the synthesized `==`.
    @inline(__always)
    private static func sameNumbers(_ a: TenantDemand, _ b: TenantDemand) -> Bool {
        a.cpuCores.expected == b.cpuCores.expected && a.cpuCores.atQuantile == b.cpuCores.atQuantile
            && a.memoryBytes.expected == b.memoryBytes.expected && a.memoryBytes.atQuantile == b.memoryBytes.atQuantile
            && a.networkBitsPerSecond.expected == b.networkBitsPerSecond.expected
            && a.networkBitsPerSecond.atQuantile == b.networkBitsPerSecond.atQuantile
            && a.measuredRunQueueWaitP99Nanoseconds == b.measuredRunQueueWaitP99Nanoseconds
    }

    /// Whether every number of the forecasts is finite and non-negative, in one test for the common case: their sum
    /// is below infinity only when none is NaN or +infinity (or when finite numbers overflowed it: `checkForecast`
    /// then clears them), and each sign is tested on its own. The two-sided test per number, `x >= 0 && x < .infinity`,
    /// compiles to some fifteen integer instructions each (a twentieth of the step with every tenant changed).
    @inline(__always)
    private static func isFiniteAndNonNegative(_ d: TenantDemand) -> Bool {
        let c = d.cpuCores, m = d.memoryBytes, n = d.networkBitsPerSecond
        let sum = c.expected + c.atQuantile + m.expected + m.atQuantile + n.expected + n.atQuantile
        return sum < .infinity && c.expected >= 0 && c.atQuantile >= 0 && m.expected >= 0 && m.atQuantile >= 0
            && n.expected >= 0 && n.atQuantile >= 0
    }

    /// Throws when a forecast is not a finite non-negative amount (NaN fails every comparison).
    private func checkForecast(slot: Int, kind: ResourceKind, _ forecast: Forecast) throws(SolveError) {
        if !(forecast.expected >= 0 && forecast.expected < .infinity && forecast.atQuantile >= 0 && forecast.atQuantile < .infinity) {
            throw .invalidInput(field: "\(specs[slot].name).demand.\(kind)", reason: "forecast \(forecast.expected)/\(forecast.atQuantile) is not a finite non-negative amount")
        }
    }

    /// One slot × resource: its demand (scaled by `factor`) and its bounds from guarantee, cap and pool. The forecast
    /// is finite and non-negative (checked by the caller).
    @inline(__always)
    private func preparedCell(slot: Int, kind: ResourceKind, forecast: Forecast, factor: Double) -> CellTable.Cell {
        let link = linkRow[slot]
        guard present[slot] && (kind != .network || link >= 0) else { return CellTable.Cell(expected: 0, quantile: 0, lower: 0, upper: 0) }
        let poolLimit = kind == .network ? linkCapacity[link - 2] : unit[kind.rawValue]
        return CellTable.Cell(expected: forecast.expected * factor, quantile: max(forecast.expected, forecast.atQuantile) * factor,
                              lower: facts[slot].guaranteed[kind], upper: min(facts[slot].cap[kind], poolLimit))
    }

    /// Whole cores for latency-critical tenants within what the shared pool's guarantees leave; the shared CPU
    /// cell of each slot then carries only what its cores do not cover.
    ///
    /// - Important: a tenant that holds exclusive cores gets no shared-pool quota: its CPU is exactly its cores.
    ///   Enforce confines such a tenant to its cores (its cpuset excludes the shared pool), so quota on the pool
    ///   would be capacity it cannot use and that the pool's tenants lose. Its demand beyond its cores (when the
    ///   core budget or its cap stopped the placement) stays a shortfall in the cost, not a pool share. Its guarantee
    ///   holds: placement gives it at least its guaranteed cores rounded up.
    private mutating func placeCores() throws(SolveError) {
        let placeable = placement.placeableCount
        var sharedGuarantees = 0.0, guaranteedCores = 0
        for slot in specs.indices where present[slot] {
            if facts[slot].tenantClass == .latencyCritical {
                guaranteedCores += facts[slot].guaranteedCores
            } else {
                sharedGuarantees += facts[slot].guaranteed.cpuCores
            }
        }
        let budget = min(placeable, Int((Double(host.cores.count) - sharedGuarantees + 1e-9).rounded(.down)))
        if guaranteedCores > budget { throw .guaranteesClash([coreClash(budget: budget)]) }
        // Guarantees first, then the rest of each tenant's wish in slot order while the budget lasts.
        var left = budget - guaranteedCores
        for slot in specs.indices { coresWanted[slot] = table.coresWish[slot] }
        for slot in specs.indices where coresWanted[slot] > 0 {
            let guaranteed = facts[slot].guaranteedCores
            let extra = min(left, max(0, coresWanted[slot] - guaranteed))
            left -= extra
            coresWanted[slot] = min(coresWanted[slot], guaranteed + extra)
        }
        // Placement is deterministic and starts from last tick's cores, so the same wishes give the same cores:
        // most ticks (demand drifts within a core) skip it.
        if coresWanted != placedWanted {
            coresWanted.withUnsafeBufferPointer { placement.place(wanted: $0) }
            for slot in specs.indices { placedWanted[slot] = coresWanted[slot] }
            sharedPoolCores = host.cores.count
            for slot in specs.indices { sharedPoolCores -= placement.held[slot] }
            if !nodeCapacity.isEmpty { placeMemoryNodes() }
        }
        let before = table.cpuBeforeCores
        for slot in specs.indices {
            let cell = slot * 3, raw = slot * 4, held = Double(placement.held[slot])
            expected[cell] = max(0, before[raw] - held)
            quantile[cell] = max(0, before[raw + 1] - held)
            lowerAmount[cell] = max(0, before[raw + 2] - held)
            upperAmount[cell] = held > 0 ? lowerAmount[cell] : max(lowerAmount[cell], before[raw + 3] - held)
        }
    }

    /// Each slot's memory node after this tick's placement: the node of its exclusive cores, or of the shared pool's
    /// cores, when they sit on one node, else every node (−1). A slot whose node changed moves its memory pieces'
    /// entries to that node's row (the LP's shape stays; only coefficients change).
    private mutating func placeMemoryNodes() {
        var poolNode = -2
        for slot in specs.indices { coreNodeOfSlot[slot] = -2 }
        for c in placement.owner.indices {
            let t = placement.owner[c], node = placement.nodes[c]
            if t < 0 {
                poolNode = poolNode == -2 || poolNode == node ? node : -1
            } else {
                coreNodeOfSlot[t] = coreNodeOfSlot[t] == -2 || coreNodeOfSlot[t] == node ? node : -1
            }
        }
        for slot in specs.indices {
            let node = placement.held[slot] > 0 ? coreNodeOfSlot[slot] : max(poolNode, -1)
            if node == memoryNode[slot] { continue }
            memoryNode[slot] = node
            let first = (slot * 3 + ResourceKind.memory.rawValue) * pieceCount
            for column in first..<(first + pieceCount) {
                for k in nodeCapacity.indices { lp.setCoefficient(row: nodeRowStart + k, column: column, k == node ? 1 : 0) }
            }
        }
    }

    /// Sets every piece's bounds and cost and every row's capacity for this tick (`CellTable.setPieces`).
    private mutating func setLinearProgram() throws(SolveError) {
        let threshold = model.contentionThreshold
        sumPerRow(lowerAmount)
        for row in 0..<rowCount {
            let capacity = poolCapacity(row: row), rowGuarantee = rowLoad[row]
            if rowGuarantee > capacity * (1 + 1e-12) { throw .guaranteesClash([rowClash(row: row)]) }
            let scale = unit[kind(ofRow: row).rawValue]
            if row < nodeRowStart {
                lp.setRowBounds(row, lower: -.infinity, upper: (threshold * capacity - rowGuarantee) / scale)
                lp.setColumnBounds(overloadColumn(row: row), lower: 0, upper: (1 - threshold) * capacity / scale)
            } else {
                // A node's memory is a hard limit; the memory row charges the pressure.
                lp.setRowBounds(row, lower: -.infinity, upper: (capacity - rowGuarantee) / scale)
            }
        }
        let inverseCPU = inverseUnit[0], inverseMemory = inverseUnit[1], inverseNetwork = inverseUnit[2]
        // Through the table (a class) and locals: a call on this struct's own method copied much of it per slot.
        let cells = table, lp = self.lp, pieceCount = self.pieceCount, hasPrevious = self.hasPrevious
        for slot in specs.indices {
            let slopes = slopesOfSlot[slot], cell = slot * 3
            cells.setPieces(cell: cell, inverseScale: inverseCPU, slopes: slopes, hasPrevious: hasPrevious, pieceCount: pieceCount, lp: lp)
            cells.setPieces(cell: cell + 1, inverseScale: inverseMemory, slopes: slopes, hasPrevious: hasPrevious, pieceCount: pieceCount, lp: lp)
            // A slot without a link keeps its network pieces at zero, as built.
            if linkRow[slot] >= 0 {
                cells.setPieces(cell: cell + 2, inverseScale: inverseNetwork, slopes: slopes, hasPrevious: hasPrevious, pieceCount: pieceCount, lp: lp)
            } else {
                previousUsed[cell + 2] = hasPrevious ? previous[cell + 2] : quantile[cell + 2]
            }
        }
    }

    /// Amounts from the LP's pieces, trimmed so rounding at the tolerance never lets a pool exceed its capacity.
    private mutating func readAmounts() {
        let cells = table, lp = self.lp, pieceCount = self.pieceCount, cpuUnit = unit[0], memoryUnit = unit[1], networkUnit = unit[2]
        for slot in specs.indices {
            cells.readAmount(cell: slot * 3, scale: cpuUnit, pieceCount: pieceCount, lp: lp)
            cells.readAmount(cell: slot * 3 + 1, scale: memoryUnit, pieceCount: pieceCount, lp: lp)
            cells.readAmount(cell: slot * 3 + 2, scale: networkUnit, pieceCount: pieceCount, lp: lp)
        }
        // Trimming only lowers amounts, so a row trimmed earlier stays within its capacity.
        sumPerRow(amount)
        for row in 0..<rowCount {
            var excess = rowLoad[row] - poolCapacity(row: row)
            if excess <= 0 { continue }
            for slot in specs.indices where excess > 0 {
                let carried = cell(onRow: row, slot: slot)
                if carried < 0 { continue }
                let cut = min(excess, amount[carried] - lowerAmount[carried])
                amount[carried] -= cut
                excess -= cut
            }
        }
        for cell in amount.indices { previous[cell] = amount[cell] }
        hasPrevious = true
    }

    // MARK: Helpers

    /// `rowLoad[row]` = the sum of `values` (per slot × resource) over the present slots' cells the row carries.
    private mutating func sumPerRow(_ values: UnsafeMutableBufferPointer<Double>) {
        for row in 0..<rowCount { rowLoad[row] = 0 }
        for slot in specs.indices where present[slot] {
            let cell = slot * 3
            rowLoad[0] += values[cell]
            rowLoad[1] += values[cell + 1]
            if linkRow[slot] >= 0 { rowLoad[linkRow[slot]] += values[cell + 2] }
            if memoryNode[slot] >= 0 { rowLoad[nodeRowStart + memoryNode[slot]] += values[cell + 1] }
        }
    }

    /// The pool row (shared CPU, memory, link) that carries a slot's amount of a resource, −1 when none does.
    func rowOf(slot: Int, kind: ResourceKind) -> Int {
        kind == .network ? linkRow[slot] : kind.rawValue
    }

    /// The cell (slot × resource) of `slot` that row `row` carries, −1 when it carries none of the slot's.
    func cell(onRow row: Int, slot: Int) -> Int {
        if row < 2 { return slot * 3 + row }
        if row < nodeRowStart { return linkRow[slot] == row ? slot * 3 + ResourceKind.network.rawValue : -1 }
        return memoryNode[slot] == row - nodeRowStart ? slot * 3 + ResourceKind.memory.rawValue : -1
    }

    /// The resource a row divides.
    func kind(ofRow row: Int) -> ResourceKind {
        row == 0 ? .cpu : (row == 1 || row >= nodeRowStart ? .memory : .network)
    }

    private func coreClash(budget: Int) -> GuaranteeClash {
        let list = specs.indices.filter { present[$0] && specs[$0].tenantClass == .latencyCritical && specs[$0].guaranteed.cpuCores > 0 }
            .map { (tenant: specs[$0].name, amount: specs[$0].guaranteed.cpuCores.rounded(.up)) }
            .sorted { $0.amount > $1.amount }
        return GuaranteeClash(resource: "exclusive cores", capacity: Double(budget), guarantees: list)
    }

    private func rowClash(row: Int) -> GuaranteeClash {
        let list = specs.indices.filter { present[$0] && cell(onRow: row, slot: $0) >= 0 && lowerAmount[cell(onRow: row, slot: $0)] > 0 }
            .map { (tenant: specs[$0].name, amount: lowerAmount[cell(onRow: row, slot: $0)]) }
            .sorted { $0.amount > $1.amount }
        let name = switch row {
        case 0: "shared cpu"
        case 1: "memory"
        case ..<nodeRowStart: "link \(host.links[row - 2].name)"
        default: "memory of node \(row - nodeRowStart)"
        }
        return GuaranteeClash(resource: name, capacity: poolCapacity(row: row), guarantees: list)
    }
}

/// The numbers a tick keeps per slot × resource and per slot, in memory allocated once: written several times per
/// cell and tick, as arrays they paid a uniqueness check per write (a tenth of the step at 64 tenants). Freed with
/// the solver.
final class CellTable {
    let lowerAmount: UnsafeMutableBufferPointer<Double>
    let upperAmount: UnsafeMutableBufferPointer<Double>
    let expected: UnsafeMutableBufferPointer<Double>
    let quantile: UnsafeMutableBufferPointer<Double>
    let previous: UnsafeMutableBufferPointer<Double>
    let previousUsed: UnsafeMutableBufferPointer<Double>
    let amount: UnsafeMutableBufferPointer<Double>
    /// Per slot, its CPU cell before its exclusive cores are taken off: expected, quantile, lower, upper.
    let cpuBeforeCores: UnsafeMutableBufferPointer<Double>
    /// Per cell, the lower, upper, expected, quantile and previous amount its LP pieces were last set from (NaN
    /// before the first setting, so that one always happens).
    let pieceKey: UnsafeMutableBufferPointer<Double>
    /// Per slot: the factor its measured run-queue wait raised its CPU demand by, its whole-core wish, and the
    /// demand and presence its cells were last prepared from (a slot whose both are unchanged keeps its cells: most
    /// ticks change a few tenants' forecasts, so the tick's cost follows what changed).
    let latencyInflation: UnsafeMutableBufferPointer<Double>
    let coresWish: UnsafeMutableBufferPointer<Int>
    let preparedDemand: UnsafeMutableBufferPointer<TenantDemand>
    let preparedPresent: UnsafeMutableBufferPointer<Bool>
    let isPrepared: UnsafeMutableBufferPointer<Bool>

    /// A prepared cell: demand and bounds (raw units).
    struct Cell {
        var expected: Double
        var quantile: Double
        var lower: Double
        var upper: Double
    }

    init(slotCount: Int) {
        let count = slotCount * 3
        func filled(_ size: Int, _ value: Double) -> UnsafeMutableBufferPointer<Double> {
            let buffer = UnsafeMutableBufferPointer<Double>.allocate(capacity: size)
            buffer.initialize(repeating: value)
            return buffer
        }
        lowerAmount = filled(count, 0)
        upperAmount = filled(count, 0)
        expected = filled(count, 0)
        quantile = filled(count, 0)
        previous = filled(count, 0)
        previousUsed = filled(count, 0)
        amount = filled(count, 0)
        cpuBeforeCores = filled(slotCount * 4, 0)
        pieceKey = filled(count * 5, .nan)
        latencyInflation = filled(slotCount, 1)
        coresWish = .allocate(capacity: slotCount)
        coresWish.initialize(repeating: 0)
        preparedDemand = .allocate(capacity: slotCount)
        preparedDemand.initialize(repeating: TenantDemand())
        preparedPresent = .allocate(capacity: slotCount)
        preparedPresent.initialize(repeating: false)
        isPrepared = .allocate(capacity: slotCount)
        isPrepared.initialize(repeating: false)
    }

    deinit {
        for buffer in [lowerAmount, upperAmount, expected, quantile, previous, previousUsed, amount, cpuBeforeCores, pieceKey, latencyInflation] { buffer.deallocate() }
        coresWish.deallocate()
        preparedDemand.deallocate()
        preparedPresent.deallocate()
        isPrepared.deallocate()
    }

    @inline(__always)
    func set(cell: Int, _ value: Cell) {
        expected[cell] = value.expected
        quantile[cell] = value.quantile
        lowerAmount[cell] = value.lower
        upperAmount[cell] = value.upper
    }

    @inline(__always)
    func setCPUBeforeCores(slot: Int, _ value: Cell) {
        let raw = slot * 4
        cpuBeforeCores[raw] = value.expected
        cpuBeforeCores[raw + 1] = value.quantile
        cpuBeforeCores[raw + 2] = value.lower
        cpuBeforeCores[raw + 3] = value.upper
    }

    /// One cell's pieces in `lp`: the cost's breakpoints (expected and quantile demand, previous amount, within the
    /// cell's bounds) split its range; each piece is as wide as the gap between breakpoints and costs the slope above
    /// its start. Before the first tick's amounts (`hasPrevious` false), the stability term's anchor is the quantile.
    /// A cell whose numbers are those its pieces were last set from is left alone.
    @inline(__always)
    func setPieces(cell: Int, inverseScale: Double, slopes: CostModel.Slopes, hasPrevious: Bool, pieceCount: Int, lp: SimplexSolver) {
        let previousAmount = hasPrevious ? previous[cell] : quantile[cell]
        previousUsed[cell] = previousAmount
        if !piecesNeedSetting(cell: cell, previous: previousAmount) { return }
        let lo = lowerAmount[cell] * inverseScale, hi = upperAmount[cell] * inverseScale
        let e = expected[cell] * inverseScale, q = quantile[cell] * inverseScale, p = previousAmount * inverseScale
        let (b0, b1, b2) = Self.sorted3(min(max(e, lo), hi), min(max(q, lo), hi), min(max(p, lo), hi))
        // Wrapping arithmetic: a column index is far from overflow, and the checks cost a branch each.
        let column = cell &* pieceCount
        lp.setColumnBounds(column, lower: 0, upper: max(0, b0 - lo))
        lp.setCost(column, slopes.at(lo, expected: e, quantile: q, previous: p))
        lp.setColumnBounds(column &+ 1, lower: 0, upper: max(0, b1 - b0))
        lp.setCost(column &+ 1, slopes.at(b0, expected: e, quantile: q, previous: p))
        lp.setColumnBounds(column &+ 2, lower: 0, upper: max(0, b2 - b1))
        lp.setCost(column &+ 2, slopes.at(b1, expected: e, quantile: q, previous: p))
        if pieceCount == 4 {
            lp.setColumnBounds(column &+ 3, lower: 0, upper: max(0, hi - b2))
            lp.setCost(column &+ 3, slopes.at(b2, expected: e, quantile: q, previous: p))
        }
    }

    private static func sorted3(_ a: Double, _ b: Double, _ c: Double) -> (Double, Double, Double) {
        var (x, y, z) = (a, b, c)
        if x > y { swap(&x, &y) }
        if y > z { swap(&y, &z) }
        if x > y { swap(&x, &y) }
        return (x, y, z)
    }

    /// A cell's amount from `lp`: its guarantee plus its pieces, within its cap.
    @inline(__always)
    func readAmount(cell: Int, scale: Double, pieceCount: Int, lp: SimplexSolver) {
        let column = cell * pieceCount
        var sum = lp.columnValue(column) + lp.columnValue(column + 1) + lp.columnValue(column + 2)
        if pieceCount == 4 { sum += lp.columnValue(column + 3) }
        amount[cell] = min(upperAmount[cell], lowerAmount[cell] + max(0, sum) * scale)
    }

    /// Whether the cell's pieces must be set again (its bounds, demands or `previous` amount differ from those they
    /// were last set from); when they must, records the new ones as set.
    @inline(__always)
    private func piecesNeedSetting(cell: Int, previous p: Double) -> Bool {
        let k = cell &* 5
        let lo = lowerAmount[cell], hi = upperAmount[cell], e = expected[cell], q = quantile[cell]
        if pieceKey[k] == lo, pieceKey[k &+ 1] == hi, pieceKey[k &+ 2] == e, pieceKey[k &+ 3] == q, pieceKey[k &+ 4] == p { return false }
        pieceKey[k] = lo
        pieceKey[k &+ 1] = hi
        pieceKey[k &+ 2] = e
        pieceKey[k &+ 3] = q
        pieceKey[k &+ 4] = p
        return true
    }
}

/// The plain values of a `TenantSpec` that a tick reads.
struct TenantFacts {
    var tenantClass: TenantClass
    var guaranteed: ResourceVector
    var cap: ResourceVector
    var sloNanoseconds: Double?
    /// A latency-critical tenant's whole cores: its guarantee rounded up, its cap rounded down (Int.max without
    /// one); worked out once, not per tick.
    var guaranteedCores: Int
    var cappedCores: Int

    init(_ spec: TenantSpec) {
        tenantClass = spec.tenantClass
        guaranteed = spec.guaranteed
        cap = spec.cap
        sloNanoseconds = spec.slo.runQueueWaitP99Nanoseconds
        guaranteedCores = Int((spec.guaranteed.cpuCores - 1e-9).rounded(.up))
        cappedCores = spec.cap.cpuCores.isFinite ? Int((spec.cap.cpuCores + 1e-9).rounded(.down)) : Int.max
    }
}
