import CLoop
import Foundation
import Glibc
import Testing

/// The agent following a tenant source: a real podman engine (Docker API) beside a static tenant of the
/// configuration; containers become tenants while the agent runs and are retired when they stop.
@Suite(.serialized) struct AgentDiscoveryKernelTests {
    @Test func aStartedContainerBecomesATenantWithItsLabelsAndIsRetiredWhenItStops() throws {
        let engine = try PodmanFixture()
        defer { engine.tearDown() }
        let cgroups = try AgentTestCgroups(names: ["be"])
        defer { cgroups.remove() }
        _ = try cgroups.spawn("be", "stress-ng --cpu 1 --timeout 30s")
        let agent = try AgentProcess(
            tenants: ["{name: be, cgroup: \(cgroups.path("be")), class: best-effort}"],
            sources: ["docker:\(engine.socketPath)"]
        )
        defer {
            agent.stop()
            agent.removeDirectory()
        }
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
