/// What `Discovery` tells its listeners.
public enum DiscoveryEvent: Sendable, Hashable {
    /// The merged table changed; the agent builds its tenant slots from it and swaps them in at a tick boundary.
    case table(TenantTable)
    /// Something to log: a malformed label, a source that cannot be reached, a lost dispute.
    case warning(DiscoveryWarning)
}

/// Runs every tenant source and keeps the merged tenant table: the service the agent starts on its slow side.
///
/// `run()` has the shape of swift-service-lifecycle's `Service.run()` (the agent conforms it with one line) and
/// returns when its task is cancelled. A source that fails does not stop the others: its tenants are retired, a
/// warning says why, and it keeps retrying.
public actor Discovery {
    public let sources: [any TenantSource]
    /// The current merged table.
    public private(set) var table = TenantTable()

    private var findings: [SourceFindings]
    private var listeners: [Int: AsyncStream<DiscoveryEvent>.Continuation] = [:]
    private var nextListener = 0

    public init(sources: [any TenantSource]) {
        self.sources = sources
        self.findings = sources.map { SourceFindings(source: $0.id) }
    }

    /// Every table change and warning from now on; the stream starts with the current table.
    public func events() -> AsyncStream<DiscoveryEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: DiscoveryEvent.self, bufferingPolicy: .bufferingNewest(256))
        let key = nextListener
        nextListener += 1
        listeners[key] = continuation
        continuation.yield(.table(table))
        continuation.onTermination = { _ in Task { await self.removeListener(key) } }
        return stream
    }

    /// Follows every source until the calling task is cancelled.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for (index, source) in sources.enumerated() {
                group.addTask {
                    for await update in source.updates() {
                        await self.apply(update, fromSourceAt: index)
                    }
                }
            }
        }
    }

    /// Folds one update into the source's findings and republishes the table when it changed.
    func apply(_ update: SourceUpdate, fromSourceAt index: Int) {
        var warnings: [DiscoveryWarning] = []
        switch update {
        case let .snapshot(scan):
            findings[index].tenants = Dictionary(scan.tenants.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            findings[index].reservedCoreIDs = scan.reservedCoreIDs
            if findings[index].unavailable {
                warnings.append(DiscoveryWarning(source: findings[index].source, message: "source is reachable again"))
            }
            findings[index].unavailable = false
            warnings += scan.warnings
        case let .added(tenant):
            findings[index].tenants[tenant.name] = tenant
        case let .retired(name):
            findings[index].tenants[name] = nil
        case let .warning(warning):
            warnings.append(warning)
        case let .unavailable(error):
            findings[index].tenants = [:]
            findings[index].reservedCoreIDs = []
            findings[index].unavailable = true
            warnings.append(DiscoveryWarning(
                source: findings[index].source,
                message: "source unavailable, its tenants are retired and the other sources continue: \(error)"
            ))
        }
        let merged = TenantTable.merge(findings.map { ($0.source, Array($0.tenants.values), $0.reservedCoreIDs) })
        warnings += merged.conflicts.filter { !table.conflicts.contains($0) }
        for warning in warnings { broadcast(.warning(warning)) }
        if merged != table {
            table = merged
            broadcast(.table(merged))
        }
    }

    private func broadcast(_ event: DiscoveryEvent) {
        for continuation in listeners.values { continuation.yield(event) }
    }

    private func removeListener(_ key: Int) { listeners[key] = nil }
}

/// What one source has reported so far.
private struct SourceFindings {
    let source: SourceID
    var tenants: [String: DiscoveredTenant] = [:]
    var reservedCoreIDs: [Int] = []
    var unavailable = false
}
