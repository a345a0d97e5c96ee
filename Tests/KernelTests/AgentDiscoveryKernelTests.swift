import CLoop
import Foundation
import Glibc
import Testing

/// The agent following a tenant source: a real podman engine (Docker API) beside a static tenant of the
/// configuration; containers become tenants while the agent runs and are retired when they stop.
@Suite(.serialized) struct AgentDiscoveryKernelTests {
    /// A podman engine, a static best-effort tenant `be` running `command`, and an agent following both; `tearDown()`
    /// stops and removes all of it.
    final class AgentBesideEngine {
        let engine: PodmanFixture
        let cgroups: AgentTestCgroups
        let agent: AgentProcess

        init(beCommand command: String) throws {
            let engine = try PodmanFixture()
            var cgroups: AgentTestCgroups?
            do {
                let created = try AgentTestCgroups(names: ["be"])
                cgroups = created
                _ = try created.spawn("be", command)
                agent = try AgentProcess(
                    tenants: ["{name: be, cgroup: \(created.path("be")), class: best-effort}"],
                    sources: ["docker:\(engine.socketPath)"]
                )
                self.cgroups = created
                self.engine = engine
            } catch {
                cgroups?.remove()
                engine.tearDown()
                throw error
            }
        }

        func tearDown() {
            agent.stop()
            agent.removeDirectory()
            cgroups.remove()
            engine.tearDown()
        }
    }

    @Test func aStartedContainerBecomesATenantWithItsLabelsAndIsRetiredWhenItStops() throws {
        let setup = try AgentBesideEngine(beCommand: "stress-ng --cpu 1 --timeout 30s")
        defer { setup.tearDown() }
        let engine = setup.engine, agent = setup.agent
        try agent.wait(seconds: 5) { $0.loop.ticks > 100 }

        try engine.start("lc", labels: ["dpm.class": "latency-critical", "dpm.slo.runq-p99": "300us"], command: ["sh", "-c", "while :; do :; done"])
        let name = engine.containerName("lc")
        let found = try agent.wait(seconds: 10) { $0.tenants.contains { $0.name == name } }
        let tenant = try #require(found.tenants.first { $0.name == name }, "\(agent.log)")
        #expect(tenant.class == "latency-critical")
        #expect(tenant.slo_runq_wait_p99_ns == 300_000)
        #expect(found.tenants.contains { $0.name == "be" })
        // The loop measures the container like any tenant: its spinning shell shows up as CPU use.
        let measured = try agent.wait(seconds: 10) { $0.tenants.first { $0.name == name }.map { $0.usage_cpu_cores_avg > 0.2 } ?? false }
        #expect((measured.tenants.first { $0.name == name }?.usage_cpu_cores_avg ?? 0) > 0.2, "\(agent.log)")

        try engine.stop("lc")
        let retired = try agent.wait(seconds: 10) { !$0.tenants.contains { $0.name == name } }
        #expect(retired.tenants.map(\.name) == ["be"], "\(agent.log)")
        #expect(agent.log.contains("tenant \(name): found by its source"))
        let ticks = retired.loop.ticks
        usleep(300_000)
        #expect(try agent.status().loop.ticks > ticks + 100)
    }

    /// A container its source stops reporting while it runs (the engine's API went away) leaves the table but keeps
    /// what Enforce gave it; once it stops and its cgroup is gone, Enforce forgets it, so tenants that come and go
    /// leave no state, descriptors or baseline entries behind.
    @Test func aTenantItsSourceDroppedIsForgottenByEnforceOnceItsCgroupIsGone() throws {
        let setup = try AgentBesideEngine(beCommand: "sleep 60")
        defer { setup.tearDown() }
        let engine = setup.engine, agent = setup.agent
        try engine.start("c", labels: ["dpm.class": "burstable"])
        let name = engine.containerName("c")
        // Enforce has applied an allocation to it (a quota or cores of its own).
        let found = try agent.wait(seconds: 10) { $0.tenants.contains { $0.name == name && ($0.cpu_quota_cores > 0 || !$0.cores.isEmpty) } }
        #expect(found.tenants.contains { $0.name == name }, "\(agent.log)")
        let forgotten = "tenant \(name): dropped from the enforced state"

        engine.stopService()
        let dropped = try agent.wait(seconds: 10) { !$0.tenants.contains { $0.name == name } }
        #expect(!dropped.tenants.contains { $0.name == name }, "\(agent.log)")
        usleep(1_500_000)
        #expect(!agent.log.contains(forgotten), "the container still runs: Enforce keeps counting it")

        try engine.stop("c")
        let deadline = Date().addingTimeInterval(5)
        while !agent.log.contains(forgotten) && Date() < deadline { usleep(100_000) }
        #expect(agent.log.contains(forgotten), "\(agent.log)")
    }

    @Test func anUnknownSourceInTheConfigurationIsRefusedWithItsLine() throws {
        let directory = NSTemporaryDirectory() + "dpm-test-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "tick: 1ms\nsources: [docker, podman:/x.sock]\ntenants: []\n".write(toFile: "\(directory)/dpm.yaml", atomically: true, encoding: .utf8)
        let run = try runCommand(dpmBinary(), ["run", "--config", "\(directory)/dpm.yaml", "--dry-run"])
        #expect(run.status != 0)
        #expect(run.error.contains("dpm.yaml:2"), "\(run.error)")
        #expect(run.error.contains("unknown tenant source 'podman:/x.sock'"), "\(run.error)")
    }
}
