import Discover
import Pool
import Testing

struct TenantTableTests {
    func tenant(_ name: String, _ cgroup: String, _ source: SourceID) -> DiscoveredTenant {
        DiscoveredTenant(spec: TenantSpec(name: name, cgroupPath: cgroup, tenantClass: .burstable), source: source, cgroupID: 1)
    }

    let docker = SourceID(kind: .docker, location: "/run/docker.sock")
    let otherDocker = SourceID(kind: .docker, location: "/run/podman.sock")
    let kubernetes = SourceID(kind: .kubernetes, location: "")
    let operatorConfig = SourceID(kind: .static, location: "dpm.yaml")

    @Test func theLowerRankedSourceWinsACgroupWhateverTheListingOrder() {
        let table = TenantTable.merge([
            (docker, [tenant("web", "/a", docker)], []),
            (operatorConfig, [tenant("frontend", "/a", operatorConfig)], []),
        ])
        #expect(table.tenants.map(\.name) == ["frontend"])
        #expect(table.conflicts.count == 1)
        let message = table.conflicts[0].message
        #expect(message.contains("static:dpm.yaml (frontend)") && message.contains("docker:/run/docker.sock (web)"))
        #expect(message.contains("static ranks before docker"))
        #expect(table.conflicts[0].tenant == "web")
    }

    @Test func betweenSourcesOfOneKindTheFirstListedWins() {
        let table = TenantTable.merge([
            (otherDocker, [tenant("b", "/x", otherDocker)], []),
            (docker, [tenant("a", "/x", docker)], []),
        ])
        #expect(table.tenants.map(\.name) == ["b"])
        #expect(table.conflicts.first?.message.contains("listed first") == true)
    }

    @Test func aNameClaimedTwiceKeepsTheWinnerAndReservedCoresAreUnited() {
        let table = TenantTable.merge([
            (docker, [tenant("db", "/d1", docker), tenant("web", "/w", docker)], [5]),
            (kubernetes, [tenant("db", "/d2", kubernetes)], [2, 3]),
        ])
        #expect(table.tenants.map(\.name) == ["db", "web"])
        #expect(table["db"]?.source == kubernetes)
        #expect(table.conflicts.first?.message.contains("name db") == true)
        #expect(table.reservedCoreIDs == [2, 3, 5])
    }

    @Test func noConflictNoWarning() {
        let table = TenantTable.merge([(docker, [tenant("a", "/a", docker)], []), (kubernetes, [tenant("b", "/b", kubernetes)], [])])
        #expect(table.tenants.count == 2)
        #expect(table.conflicts.isEmpty)
    }
}
