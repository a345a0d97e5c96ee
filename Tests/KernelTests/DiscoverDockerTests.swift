import Discover
import Foundation
import Pool
import Testing

/// Discovery against a real engine: podman's Docker-compatible API with real runc containers.
@Suite(.serialized)
struct DiscoverDockerTests {
    @Test func startedContainerIsDiscoveredWithItsLabelsAndRetiredWhenStopped() async throws {
        let engine = try PodmanFixture()
        defer { engine.tearDown() }
        let watcher = await DiscoveryWatcher(sources: [DockerSource(socketPath: engine.socketPath)])
        defer { watcher.stop() }
        #expect(await watcher.wait { table, _ in table.tenants.isEmpty })

        let containerID = try engine.start("lc", labels: [
            "dpm.class": "latency-critical", "dpm.cpu.min": "500m", "dpm.cpu.max": "2",
            "dpm.memory.min": "64Mi", "dpm.memory.max": "1G", "dpm.slo.runq-p99": "500us",
        ])
        let name = engine.containerName("lc")
        #expect(await watcher.wait { table, _ in table[name] != nil })
        let tenant = try #require(watcher.table[name])
        #expect(tenant.spec.tenantClass == .latencyCritical)
        #expect(tenant.spec.guaranteed.cpuCores == 0.5)
        #expect(tenant.spec.cap.cpuCores == 2)
        #expect(tenant.spec.guaranteed.memoryBytes == 64 * 1024 * 1024)
        #expect(tenant.spec.cap.memoryBytes == 1e9)
        #expect(tenant.spec.slo.runQueueWaitP99Nanoseconds == 500_000)
        #expect(tenant.runtimeID == containerID)
        #expect(tenant.spec.cgroupPath.hasSuffix(containerID))
        let cgroups = CgroupFS.detect()
        #expect(tenant.cgroupID == (try cgroups.cgroupID(tenant.spec.cgroupPath)))
        let processID = try #require(tenant.processID)
        #expect(try cgroups.processIDs(tenant.spec.cgroupPath).contains(processID))

        try engine.stop("lc")
        #expect(await watcher.wait { table, _ in table[name] == nil })
    }

    @Test func malformedLabelGivesDefaultsAndAWarningNamingIt() async throws {
        let engine = try PodmanFixture()
        defer { engine.tearDown() }
        let watcher = await DiscoveryWatcher(sources: [DockerSource(socketPath: engine.socketPath)])
        defer { watcher.stop() }
        try engine.start("bad", labels: ["dpm.class": "urgent", "dpm.cpu.min": "lots", "dpm.memory.max": "512Mi"])
        let name = engine.containerName("bad")
        #expect(await watcher.wait { table, _ in table[name] != nil })
        let tenant = try #require(watcher.table[name])
        #expect(tenant.spec.tenantClass == .burstable)
        #expect(tenant.spec.guaranteed.cpuCores == 0)
        #expect(tenant.spec.cap.memoryBytes == 512 * 1024 * 1024)
        #expect(await watcher.wait { _, warnings in
            warnings.contains { $0.tenant == name && $0.message.contains("dpm.class=urgent") }
                && warnings.contains { $0.tenant == name && $0.message.contains("dpm.cpu.min=lots") }
        })
    }

    @Test func containerThatExitsAtOnceIsSkippedAndTheSourceKeepsGoing() async throws {
        let engine = try PodmanFixture()
        defer { engine.tearDown() }
        let watcher = await DiscoveryWatcher(sources: [DockerSource(socketPath: engine.socketPath)])
        defer { watcher.stop() }
        // Exits while (or before) the source inspects it after its start event.
        try engine.start("brief", command: ["sh", "-c", "exit 0"])
        try engine.start("steady")
        #expect(await watcher.wait { table, _ in table[engine.containerName("steady")] != nil })
        #expect(watcher.table[engine.containerName("brief")] == nil)
        #expect(!watcher.warnings.contains { $0.message.contains("unavailable") })
    }

    @Test func swarmTasksShareTheirServiceSpec() async throws {
        let engine = try PodmanFixture()
        defer { engine.tearDown() }
        let watcher = await DiscoveryWatcher(sources: [DockerSource(socketPath: engine.socketPath)])
        defer { watcher.stop() }
        let service = engine.containerName("web")
        try engine.start("task1", labels: [
            "com.docker.swarm.service.name": service, "com.docker.swarm.task.name": "\(service).1.aaa",
            "dpm.class": "latency-critical", "dpm.cpu.min": "1",
        ])
        #expect(await watcher.wait { table, _ in table["\(service).1.aaa"] != nil })
        try engine.start("task2", labels: [
            "com.docker.swarm.service.name": service, "com.docker.swarm.task.name": "\(service).2.bbb",
            "dpm.class": "best-effort",
        ])
        #expect(await watcher.wait { table, _ in table["\(service).2.bbb"] != nil })
        let first = try #require(watcher.table["\(service).1.aaa"])
        let second = try #require(watcher.table["\(service).2.bbb"])
        #expect(first.spec.tenantClass == .latencyCritical)
        #expect(second.spec.tenantClass == .latencyCritical)
        #expect(second.spec.guaranteed.cpuCores == 1)
        #expect(first.spec.cgroupPath != second.spec.cgroupPath)
        #expect(watcher.warnings.contains { $0.tenant == "\(service).2.bbb" && $0.message.contains("service \(service)") })
    }

    @Test func missingEngineSocketIsReportedAndOtherSourcesContinue() async throws {
        let cgroups = CgroupFS.detect()
        let cgroup = try TestCgroup(cgroups: cgroups)
        defer { cgroup.remove() }
        let missing = NSTemporaryDirectory() + discoverRandomName() + ".sock"
        let watcher = await DiscoveryWatcher(sources: [
            DockerSource(socketPath: missing),
            StaticSource(tenants: [StaticTenant(name: "kept", cgroup: cgroup.path, tenantClass: "best-effort")], cgroups: cgroups),
        ])
        defer { watcher.stop() }
        #expect(await watcher.wait { table, warnings in
            table["kept"]?.spec.tenantClass == .bestEffort
                && warnings.contains { $0.source.kind == .docker && $0.message.contains("unavailable") && $0.message.contains(missing) }
        })
    }

    @Test func engineThatGoesAwayRetiresItsTenantsAndComesBack() async throws {
        let engine = try PodmanFixture()
        defer { engine.tearDown() }
        let name = engine.containerName("survivor")
        try engine.start("survivor")
        let watcher = await DiscoveryWatcher(sources: [DockerSource(socketPath: engine.socketPath, retrySeconds: 0.2)])
        defer { watcher.stop() }
        #expect(await watcher.wait { table, _ in table[name] != nil })
        engine.stopService()
        #expect(await watcher.wait { table, warnings in
            table[name] == nil && warnings.contains { $0.source.kind == .docker && $0.message.contains("unavailable") }
        })
        try engine.startService()
        #expect(await watcher.wait { table, warnings in
            table[name] != nil && warnings.contains { $0.message.contains("reachable again") }
        })
    }

    @Test func staticSourceWinsACgroupItSharesWithDocker() async throws {
        let engine = try PodmanFixture()
        defer { engine.tearDown() }
        let containerID = try engine.start("shared")
        let cgroups = CgroupFS.detect()
        let inspect = try discoverRun(["podman", "inspect", "--format", "{{.State.Pid}}", containerID])
        let processID = try #require(Int32(inspect.trimmingCharacters(in: .whitespacesAndNewlines)))
        let cgroupPath = try cgroups.cgroupPath(ofProcess: processID)
        let watcher = await DiscoveryWatcher(sources: [
            DockerSource(socketPath: engine.socketPath),
            StaticSource(tenants: [StaticTenant(name: "operator-says", cgroup: cgroupPath, tenantClass: "latency-critical")], cgroups: cgroups),
        ])
        defer { watcher.stop() }
        let dockerName = engine.containerName("shared")
        #expect(await watcher.wait { table, warnings in
            table["operator-says"] != nil && warnings.contains { $0.tenant == dockerName && $0.message.contains("static wins") }
        })
        #expect(watcher.table[dockerName] == nil)
        #expect(watcher.table["operator-says"]?.source.kind == .static)
    }
}
