import Pool

/// Greedy placement of whole, exclusive cores for latency-critical tenants.
///
/// - Sticky: a tenant first keeps the cores it held last tick (up to what it wants now), so a small change in
///   demand moves no core that need not move.
/// - Topology-aware: a new core is chosen to complete a physical core the tenant already half-owns (its SMT
///   sibling), then on the tenant's home NUMA node (where its cores are, or else the node with most free cores
///   among those whose memory still holds the tenant's memory guarantee, since its memory will live there), then on
///   a physical core no other tenant shares; ties go to the lowest CPU number, so the result is deterministic.
/// - Housekeeping cores are never given.
///
/// Works in place on arrays sized at construction: placing allocates nothing.
struct CorePlacement {
    /// Per core (in CPU-number order): CPU number, NUMA node, housekeeping flag.
    let coreIDs: [Int]
    let nodes: [Int]
    let housekeeping: [Bool]
    /// For each core, the indices of its SMT siblings (same physical core).
    let siblings: [[Int]]
    /// Owning tenant slot of each core, −1 when free; `previousOwner` is last tick's.
    private(set) var owner: [Int]
    private(set) var previousOwner: [Int]
    /// Cores each slot holds after `place`.
    private(set) var held: [Int]
    private var freePerNode: [Int]
    private var homeNode: [Int]
    /// Each slot's guaranteed memory, each node's tenant memory (empty on a one-node host) and, while placing, what
    /// the guarantees of the tenants homed on a node leave of it.
    private let memoryGuarantee: [Double]
    private let nodeMemory: [Double]
    private var memoryLeft: [Double]

    init(host: HostCapacity, memoryGuarantees: [Double]) {
        let cores = host.cores.sorted { $0.id < $1.id }
        let housekeepingIDs = Set(host.housekeepingCoreIDs)
        coreIDs = cores.map(\.id)
        nodes = cores.map(\.numaNode)
        housekeeping = cores.map { housekeepingIDs.contains($0.id) }
        let physical = cores.map(\.physicalCoreID)
        siblings = physical.indices.map { c in physical.indices.filter { $0 != c && physical[$0] == physical[c] } }
        owner = Array(repeating: -1, count: cores.count)
        previousOwner = owner
        held = Array(repeating: 0, count: memoryGuarantees.count)
        memoryGuarantee = memoryGuarantees
        nodeMemory = host.memoryBytesPerNode.count > 1 ? host.tenantMemoryBytesPerNode : []
        memoryLeft = nodeMemory
        freePerNode = Array(repeating: 0, count: max((cores.map(\.numaNode).max() ?? 0) + 1, nodeMemory.count))
        homeNode = Array(repeating: -1, count: memoryGuarantees.count)
    }

    /// Cores a tenant may own exclusively: every core but the housekeeping ones.
    var placeableCount: Int { housekeeping.lazy.filter { !$0 }.count }

    /// Records an earlier assignment (CPU number → slot) as the one to stay close to.
    mutating func setPrevious(ownerOfCore: (Int) -> Int?) {
        for c in coreIDs.indices { previousOwner[c] = housekeeping[c] ? -1 : (ownerOfCore(coreIDs[c]) ?? -1) }
    }

    /// Places `wanted[slot]` cores for every slot (0 for tenants without exclusive cores), keeping last tick's
    /// cores first, then filling in slot order. A slot may end with fewer than it wanted when cores run out.
    mutating func place(wanted: UnsafeBufferPointer<Int>) {
        for t in held.indices { held[t] = 0; homeNode[t] = -1 }
        for c in owner.indices {
            owner[c] = -1
            let t = previousOwner[c]
            if t >= 0, held[t] < wanted[t] {
                owner[c] = t
                held[t] += 1
                if homeNode[t] < 0 { homeNode[t] = nodes[c] }
            }
        }
        for k in memoryLeft.indices { memoryLeft[k] = nodeMemory[k] }
        if !memoryLeft.isEmpty {
            for t in held.indices where homeNode[t] >= 0 { memoryLeft[homeNode[t]] -= memoryGuarantee[t] }
        }
        for t in held.indices where held[t] < wanted[t] {
            if homeNode[t] < 0 {
                homeNode[t] = newHomeNode(memoryGuarantee: memoryGuarantee[t])
                if !memoryLeft.isEmpty { memoryLeft[homeNode[t]] -= memoryGuarantee[t] }
            }
            while held[t] < wanted[t] {
                guard let c = bestFreeCore(for: t) else { break }
                owner[c] = t
                held[t] += 1
            }
        }
        for c in owner.indices { previousOwner[c] = owner[c] }
    }

    /// How many cores moved from `before` to `owner` (a core taken from, or given to, a different slot).
    func moves(from before: [Int]) -> Int {
        zip(before, owner).filter { $0 != $1 }.count
    }

    /// The node with most free cores among those with a free core whose memory left holds `memoryGuarantee`; the
    /// node with most free cores when none does.
    private mutating func newHomeNode(memoryGuarantee room: Double) -> Int {
        for k in freePerNode.indices { freePerNode[k] = 0 }
        for c in owner.indices where owner[c] < 0 && !housekeeping[c] { freePerNode[nodes[c]] += 1 }
        var best = -1
        for k in memoryLeft.indices where freePerNode[k] > 0 && memoryLeft[k] >= room {
            if best < 0 || freePerNode[k] > freePerNode[best] { best = k }
        }
        if best >= 0 { return best }
        best = 0
        for k in freePerNode.indices where freePerNode[k] > freePerNode[best] { best = k }
        return best
    }

    /// The free core that scores best for slot `t`: sibling of a core it holds (4), on its home node (2), on a
    /// physical core nobody else holds (1).
    private func bestFreeCore(for t: Int) -> Int? {
        var best = -1, bestScore = -1
        for c in owner.indices where owner[c] < 0 && !housekeeping[c] {
            var siblingOfOwn = false, sharedWithOther = false
            for other in siblings[c] {
                if owner[other] == t { siblingOfOwn = true } else if owner[other] >= 0 { sharedWithOther = true }
            }
            let score = (siblingOfOwn ? 4 : 0) + (nodes[c] == homeNode[t] ? 2 : 0) + (sharedWithOther ? 0 : 1)
            if score > bestScore {
                best = c
                bestScore = score
            }
        }
        return best < 0 ? nil : best
    }
}
