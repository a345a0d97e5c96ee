import Discover
import Foundation
import Pool
import Testing

/// Static tenants by cgroup path and glob, on real cgroup directories with real processes.
@Suite(.serialized)
struct DiscoverStaticTests {
    @Test func pathsAndGlobsBecomeTenantsAndAMissingPathIsWarnedAbout() async throws {
        let cgroups = CgroupFS.detect()
        let root = try TestCgroup(cgroups: cgroups)
        defer { root.remove() }
        let web = try root.makeChild("web")
        let batchA = try root.makeChild("batch-a")
        let batchB = try root.makeChild("batch-b")
        try root.startProcess(in: web)
        let source = StaticSource(tenants: [
            StaticTenant(name: "web", cgroup: web, tenantClass: "latency-critical", cpuMin: "1", memoryMax: "256Mi", sloRunQueueP99: "200us"),
            StaticTenant(name: "batch", cgroup: root.path + "/batch-*", tenantClass: "best-effort", cpuMax: "fast"),
            StaticTenant(name: "ghost", cgroup: root.path + "/not-there"),
        ], location: "test.yaml", cgroups: cgroups)
        let scan = try await source.scan()
        #expect(scan.tenants.map(\.name).sorted() == ["batch/batch-a", "batch/batch-b", "web"])
        let webTenant = try #require(scan.tenants.first { $0.name == "web" })
        #expect(webTenant.spec.tenantClass == .latencyCritical)
        #expect(webTenant.spec.guaranteed.cpuCores == 1)
        #expect(webTenant.spec.cap.memoryBytes == 268_435_456)
        #expect(webTenant.spec.slo.runQueueWaitP99Nanoseconds == 200_000)
        #expect(webTenant.cgroupID == (try cgroups.cgroupID(web)))
        #expect(try cgroups.processIDs(web).count == 1)
        #expect(scan.tenants.first { $0.name == "batch/batch-a" }?.spec.cgroupPath == batchA)
        #expect(scan.tenants.first { $0.name == "batch/batch-b" }?.spec.cgroupPath == batchB)
        #expect(scan.tenants.filter { $0.name.hasPrefix("batch/") }.allSatisfy { $0.spec.tenantClass == .bestEffort && $0.spec.cap.cpuCores == .infinity })
        #expect(scan.warnings.contains { $0.tenant == "ghost" && $0.message.contains("not-there") })
        #expect(scan.warnings.contains { $0.tenant == "batch/batch-a" && $0.message.contains("cpu.max=fast") })
        #expect(scan.tenants.allSatisfy { $0.source == SourceID(kind: .static, location: "test.yaml") })
    }

    @Test func aGlobPicksUpNewCgroupsAndRetiresRemovedOnesWhileFollowed() async throws {
        let cgroups = CgroupFS.detect()
        let root = try TestCgroup(cgroups: cgroups)
        defer { root.remove() }
        let watcher = await DiscoveryWatcher(sources: [
            StaticSource(tenants: [StaticTenant(name: "job", cgroup: root.path + "/job-*")], cgroups: cgroups, pollIntervalSeconds: 0.1),
        ])
        defer { watcher.stop() }
        let job = try root.makeChild("job-1")
        #expect(await watcher.wait { table, _ in table["job/job-1"]?.spec.cgroupPath == job })
        #expect(rmdir(cgroups.directory(job)) == 0)
        #expect(await watcher.wait { table, _ in table["job/job-1"] == nil })
    }
}
