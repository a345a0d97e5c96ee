/// The agent's view of all tenants: every source's findings merged by one rule.
///
/// Built aside on the slow side; the agent swaps it in at a tick boundary.
public struct TenantTable: Sendable, Hashable {
    /// The tenants that won their cgroup and name, sorted by name.
    public var tenants: [DiscoveredTenant]
    /// CPUs foreign managers own (union over sources), sorted.
    public var reservedCoreIDs: [Int]
    /// One warning per lost dispute, naming both claims.
    public var conflicts: [DiscoveryWarning]

    public init(tenants: [DiscoveredTenant] = [], reservedCoreIDs: [Int] = [], conflicts: [DiscoveryWarning] = []) {
        self.tenants = tenants
        self.reservedCoreIDs = reservedCoreIDs
        self.conflicts = conflicts
    }

    public subscript(name: String) -> DiscoveredTenant? { tenants.first { $0.name == name } }

    /// Merges per-source findings, given in the order the sources were listed.
    ///
    /// - Important: the rule, for a cgroup path or a tenant name claimed more than once: the claim of the source with
    ///   the lower `SourceKind.rank` wins (static, microVM, Kubernetes, Docker); between equal kinds the source listed
    ///   first wins; within one source the tenants are taken in name order. The losing claim is dropped and a
    ///   warning names both.
    public static func merge(_ findings: [(source: SourceID, tenants: [DiscoveredTenant], reservedCoreIDs: [Int])]) -> TenantTable {
        let ordered = findings.enumerated().sorted { lhs, rhs in
            (lhs.element.source.kind.rank, lhs.offset) < (rhs.element.source.kind.rank, rhs.offset)
        }
        var byCgroup: [String: DiscoveredTenant] = [:]
        var byName: [String: DiscoveredTenant] = [:]
        var conflicts: [DiscoveryWarning] = []
        var reserved = Set<Int>()
        for (_, finding) in ordered {
            reserved.formUnion(finding.reservedCoreIDs)
            for tenant in finding.tenants.sorted(by: { $0.name < $1.name }) {
                if let winner = byCgroup[tenant.spec.cgroupPath] ?? byName[tenant.name] {
                    let what = winner.spec.cgroupPath == tenant.spec.cgroupPath ? "cgroup \(tenant.spec.cgroupPath)" : "name \(tenant.name)"
                    conflicts.append(DiscoveryWarning(
                        source: tenant.source,
                        tenant: tenant.name,
                        message: "\(what) is claimed by \(winner.source) (\(winner.name)) and \(tenant.source) (\(tenant.name)); "
                            + "\(winner.source) wins (\(ruleReason(winner.source, tenant.source)))"
                    ))
                    continue
                }
                byCgroup[tenant.spec.cgroupPath] = tenant
                byName[tenant.name] = tenant
            }
        }
        return TenantTable(tenants: byName.values.sorted { $0.name < $1.name }, reservedCoreIDs: reserved.sorted(), conflicts: conflicts)
    }

    private static func ruleReason(_ winner: SourceID, _ loser: SourceID) -> String {
        winner.kind == loser.kind ? "listed first" : "\(winner.kind.rawValue) ranks before \(loser.kind.rawValue)"
    }
}
