import Discover
import Pool
import Testing

/// A source that plays a fixed list of updates, then stays quiet until cancelled.
struct ScriptedSource: TenantSource {
    let id: SourceID
    let script: [SourceUpdate]

    func scan() async throws(DiscoveryError) -> SourceScan { SourceScan() }

    func updates() -> AsyncStream<SourceUpdate> {
        let script = script
        return AsyncStream { continuation in
            for update in script { continuation.yield(update) }
        }
    }
}

struct DiscoveryTests {
    func tenant(_ name: String, _ cgroup: String, _ source: SourceID) -> DiscoveredTenant {
        DiscoveredTenant(spec: TenantSpec(name: name, cgroupPath: cgroup, tenantClass: .burstable), source: source, cgroupID: 7)
    }

    /// Runs the sources until `done` holds for the collected events (or 5 s pass) and returns them.
    func collect(_ sources: [any TenantSource], until done: @escaping @Sendable ([DiscoveryEvent]) -> Bool) async -> [DiscoveryEvent] {
        let discovery = Discovery(sources: sources)
        let events = await discovery.events()
        let runner = Task { await discovery.run() }
        defer { runner.cancel() }
        let collector = Task {
            var seen: [DiscoveryEvent] = []
            for await event in events {
                seen.append(event)
                if done(seen) { break }
            }
            return seen
        }
        let timeout = Task {
            try? await Task.sleep(for: .seconds(5))
            collector.cancel()
        }
        defer { timeout.cancel() }
        return await collector.value
    }

    @Test func addedThenRetiredTenantsReachTheTableAndAnOutageRetiresAll() async {
        let docker = SourceID(kind: .docker, location: "/s")
        let source = ScriptedSource(id: docker, script: [
            .snapshot(SourceScan(tenants: [tenant("a", "/a", docker)])),
            .added(tenant("b", "/b", docker)),
            .retired(name: "a"),
            .unavailable(.socket(path: "/s", operation: "connect", errno: 111)),
            .snapshot(SourceScan(tenants: [tenant("c", "/c", docker)])),
        ])
        let events = await collect([source]) { seen in
            seen.contains { if case let .table(table) = $0 { table.tenants.map(\.name) == ["c"] } else { false } }
        }
        let tables = events.compactMap { if case let .table(table) = $0 { table.tenants.map(\.name) } else { nil } }
        #expect(tables == [[], ["a"], ["a", "b"], ["b"], [], ["c"]])
        let warnings = events.compactMap { if case let .warning(warning) = $0 { warning.message } else { nil } }
        #expect(warnings.contains { $0.contains("unavailable") && $0.contains("/s: connect failed") })
        #expect(warnings.contains { $0.contains("reachable again") })
    }

    @Test func twoSourcesClaimingOneCgroupKeepTheWinnerAndWarnOnce() async {
        let docker = SourceID(kind: .docker, location: "/s")
        let kubernetes = SourceID(kind: .kubernetes, location: "")
        let events = await collect([
            ScriptedSource(id: docker, script: [.added(tenant("web", "/kubepods/pod1", docker))]),
            ScriptedSource(id: kubernetes, script: [.added(tenant("shop/web", "/kubepods/pod1", kubernetes))]),
        ]) { seen in
            // Whichever source is heard first, the end state is the winner's table and one conflict warning.
            seen.contains { if case let .table(table) = $0 { table.tenants.map(\.name) == ["shop/web"] } else { false } }
                && seen.contains { if case let .warning(warning) = $0 { warning.message.contains("wins") } else { false } }
        }
        let last = events.compactMap { if case let .table(table) = $0 { table } else { nil } }.last
        #expect(last?.tenants.map(\.name) == ["shop/web"])
        let conflicts = events.compactMap { if case let .warning(warning) = $0 { warning } else { nil } }.filter { $0.message.contains("wins") }
        #expect(conflicts.count == 1)
        #expect(conflicts.first?.message.contains("kubernetes ranks before docker") == true)
    }
}
