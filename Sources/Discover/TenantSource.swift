import Pool

/// Where tenants come from, in the order they win a disputed cgroup.
///
/// The merge rule (`TenantTable.merge`): when two sources claim the same cgroup, or the same tenant name, the source
/// of the lower `rank` wins: the operator's static configuration, then microVMs (they add the vCPU threads a container
/// view cannot see), then Kubernetes (pod annotations and QoS say more than the runtime's labels), then Docker.
/// Between two sources of the same kind the one listed first in `Discovery(sources:)` wins. The loser is left out of
/// the table and a warning names both claims.
public enum SourceKind: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case `static`
    case microVM = "microvm"
    case kubernetes
    case docker

    public var rank: Int {
        switch self {
        case .static: 0
        case .microVM: 1
        case .kubernetes: 2
        case .docker: 3
        }
    }

    public static func < (lhs: SourceKind, rhs: SourceKind) -> Bool { lhs.rank < rhs.rank }
}

/// Which source found a tenant: its kind and where it looked (a socket path, a cgroup root, a config file).
public struct SourceID: Sendable, Hashable, Codable, CustomStringConvertible {
    public var kind: SourceKind
    public var location: String

    public init(kind: SourceKind, location: String) {
        self.kind = kind
        self.location = location
    }

    public var description: String { location.isEmpty ? kind.rawValue : "\(kind.rawValue):\(location)" }
}

/// One tenant as a source sees it: the spec the agent partitions by, and what identifies it in the kernel.
public struct DiscoveredTenant: Sendable, Hashable, Codable {
    public var spec: TenantSpec
    public var source: SourceID
    /// The cgroup v2 id (inode of the v2 directory): the key BPF knows the tenant by.
    public var cgroupID: UInt64
    /// The tenant's main process when the source knows it (a container's init, a VM's process).
    public var processID: Int32?
    /// The runtime's own handle: a container id, a pod uid, a QMP socket.
    public var runtimeID: String
    /// CPUs a foreign manager gave this tenant exclusively (kubelet CPU manager, static policy).
    public var exclusiveCoreIDs: [Int]

    public init(spec: TenantSpec, source: SourceID, cgroupID: UInt64, processID: Int32? = nil, runtimeID: String = "", exclusiveCoreIDs: [Int] = []) {
        self.spec = spec
        self.source = source
        self.cgroupID = cgroupID
        self.processID = processID
        self.runtimeID = runtimeID
        self.exclusiveCoreIDs = exclusiveCoreIDs
    }

    public var name: String { spec.name }
}

/// Something a source wants a person to know: a malformed label, an unreachable engine, a lost dispute.
public struct DiscoveryWarning: Sendable, Hashable, Codable, CustomStringConvertible {
    public var source: SourceID
    /// The tenant concerned, when there is one.
    public var tenant: String?
    public var message: String

    public init(source: SourceID, tenant: String? = nil, message: String) {
        self.source = source
        self.tenant = tenant
        self.message = message
    }

    public var description: String { "\(source)\(tenant.map { " \($0)" } ?? ""): \(message)" }
}

/// Everything one look at a source found.
public struct SourceScan: Sendable, Hashable {
    public var tenants: [DiscoveredTenant]
    /// CPUs that a foreign manager owns and dpm must not hand out (the kubelet's static CPU manager).
    public var reservedCoreIDs: [Int]
    public var warnings: [DiscoveryWarning]

    public init(tenants: [DiscoveredTenant] = [], reservedCoreIDs: [Int] = [], warnings: [DiscoveryWarning] = []) {
        self.tenants = tenants
        self.reservedCoreIDs = reservedCoreIDs
        self.warnings = warnings
    }
}

/// A change a source reports while it is followed.
public enum SourceUpdate: Sendable, Hashable {
    /// The whole current set: replaces what the source reported before (first look, resynchronisation, poll).
    case snapshot(SourceScan)
    /// A tenant appeared or changed (same name: replaced).
    case added(DiscoveredTenant)
    /// A tenant is gone.
    case retired(name: String)
    case warning(DiscoveryWarning)
    /// The source cannot look right now (engine down, socket missing); its tenants are retired until it is back.
    case unavailable(DiscoveryError)
}

/// A tenant source: a container engine, an orchestrator, a hypervisor, the operator's configuration.
///
/// Sources run on the slow side (async, seconds), never on the tick thread. `scan()` looks once; `updates()`
/// follows the source until the consuming task is cancelled and starts with a `.snapshot`. Sources without a change
/// feed follow by polling (`PollingUpdates`).
public protocol TenantSource: Sendable {
    var id: SourceID { get }
    func scan() async throws(DiscoveryError) -> SourceScan
    func updates() -> AsyncStream<SourceUpdate>
}
