import Central
import CentralSync
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Glibc
import Testing

/// `dpm run` with a real `dpm central serve` (SQLite, a host token) on loopback: the agent starts while central is
/// down, keeps ticking and spools; once central is up it catches up with no gap and no duplicate, keeps uploading
/// every second, fetches priors, and a tenant whose cgroup appears later starts from its workload's class prior.
@Suite(.serialized) struct AgentCentralKernelTests {
    @Test func theAgentSpoolsWhileCentralIsDownThenUploadsEveryIntervalAndTakesPriors() async throws {
        let directory = NSTemporaryDirectory() + "dpm-test-central-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = "sqlite:\(directory)/central.sqlite"
        let host = "edge-test-\(UInt32.random(in: 0...UInt32.max))"
        let token = try runCommand(dpmBinary(), ["central", "token", "add", host, "--db", database])
        #expect(token.status == 0, "\(token.error)")
        try token.output.write(toFile: "\(directory)/token", atomically: true, encoding: .utf8)

        // Learn a free port from a first start, then take central down before the agent starts.
        let probe = try CentralServer(database: database, port: 0, directory: directory)
        let port = probe.port
        probe.stop()

        let cgroups = try AgentTestCgroups(names: ["busy", "idle"])
        defer { cgroups.remove() }
        let lateParent = "dpm-test-\(UInt32.random(in: 0...UInt32.max))"
        _ = try cgroups.spawn("busy", "sh -c 'while :; do :; done'")
        _ = try cgroups.spawn("idle", "sleep 600")
        let spool = "\(directory)/spool"
        let agent = try AgentProcess(
            tenants: [
                "{name: busy, cgroup: \(cgroups.path("busy")), class: burstable, workload: web}",
                "{name: idle, cgroup: \(cgroups.path("idle")), class: best-effort}",
                "{name: late, cgroup: \(lateParent)/late, class: burstable, workload: web}",
            ],
            extra: ["central: {url: http://127.0.0.1:\(port), token_file: \(directory)/token, host_id: \(host), interval: 1s, prior_refresh: 2s, spool_dir: \(spool)}"],
            dryRun: true
        )
        defer {
            agent.stop()
            agent.removeDirectory()
        }

        // Central is down: the loop goes on, every interval lands in the spool.
        let before = try agent.status().loop.ticks
        try await waitFor(seconds: 15) { (try? pendingUploads(spool).count) ?? 0 >= 3 }
        #expect(try pendingUploads(spool).count >= 3, "\(agent.log)")
        #expect(try agent.status().loop.ticks > before + 1000)
        #expect(agent.log.contains("central unreachable"), "\(agent.log)")

        // Central comes back on the same port and store: the agent catches up, then uploads every second.
        let server = try CentralServer(database: database, port: port, directory: directory)
        var serverRunning = true
        defer { if serverRunning { server.stop() } }
        try await waitFor(seconds: 30) { agent.log.contains("reachable again; caught up") }
        #expect(agent.log.contains("reachable again; caught up"), "\(agent.log)")

        // Priors: once central has learnt from six steps, the agent takes a CPU prior for each tenant, including
        // the one still waiting for its cgroup, which then starts from its workload's class prior.
        try await waitFor(seconds: 30) { agent.log.contains("new CPU priors handed to the tick") }
        #expect(agent.log.contains("new CPU priors handed to the tick"), "\(agent.log)")
        let late = try AgentTestCgroups(names: ["late"], parent: lateParent)
        defer { late.remove() }
        try await waitFor(seconds: 10) { agent.log.contains("tenant late: forecaster starts from central's CPU prior") }
        #expect(agent.log.contains("tenant late: forecaster starts from central's CPU prior"), "\(agent.log)")
        #expect(try agent.status().tenants.map(\.name).sorted() == ["busy", "idle", "late"])

        try await Task.sleep(nanoseconds: 2_000_000_000)
        let metrics = try await server.metrics()
        agent.stop()
        server.stop()
        serverRunning = false

        // What central stored: every sequence the agent spooled, each once; per tenant one summary per second from
        // the first to the last, with no gap; the workload labels; plausible CPU figures.
        let lastSequence = try #require(Int(try read("\(spool)/last-sequence")))
        let pending = try pendingUploads(spool)
        let store = try await StoreLocation(parsing: database).open()
        let counts = try await store.counts()
        // (An upload in flight at SIGTERM may be stored and still pending: central will call its resend a duplicate.)
        #expect(counts.uploads + pending.count >= lastSequence + 1, "uploads \(counts.uploads), pending \(pending), last \(lastSequence)")
        #expect(counts.uploads <= lastSequence + 1)
        #expect(metric(metrics, "dpm_central_uploads_total{outcome=\"duplicate\"}") == 0, "\(metrics)")
        #expect(metric(metrics, "dpm_central_priors_served_total{source=\"class\"}") > 0, "\(metrics)")
        var total = 0
        for tenant in ["busy", "idle"] {
            let series = try #require(try await store.series(tenant: tenant, fromSeconds: 0, stepSeconds: 1)[.cpu], "\(tenant)")
            let starts = series.map(\.bucketSeconds)
            #expect(starts.count >= 6, "\(tenant): \(starts)")
            #expect(starts == Array(starts[0]...starts[starts.count - 1]), "\(tenant) has a gap: \(starts)")
            total += series.count
        }
        let lateSeries = try await store.series(tenant: "late", fromSeconds: 0, stepSeconds: 1)[.cpu] ?? []
        #expect(counts.samples == total + lateSeries.count)
        let busy = try #require(try await store.series(tenant: "busy", fromSeconds: 0, stepSeconds: 1)[.cpu])
        let idle = try #require(try await store.series(tenant: "idle", fromSeconds: 0, stepSeconds: 1)[.cpu])
        #expect(busy.map(\.mean).reduce(0, +) / Double(busy.count) > 0.05, "\(busy)")
        #expect(idle.map(\.mean).max() ?? 1 < 0.05, "\(idle)")
        let labels = Dictionary(uniqueKeysWithValues: try await store.tenants(seenSinceSeconds: 0).map { ($0.tenant, $0.workload) })
        #expect(labels["busy"] == "web" && labels["idle"] == "best-effort", "\(labels)")
        try await store.close()
    }

    @Test func anUnreadableTokenFileStopsTheAgentAndNamesTheFile() throws {
        let directory = NSTemporaryDirectory() + "dpm-test-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
        tick: 1ms
        control_socket: \(directory)/control.sock
        state_dir: \(directory)/state
        metrics_port: off
        central: {url: http://127.0.0.1:9, token_file: \(directory)/missing-token}
        tenants: []
        """.write(toFile: "\(directory)/dpm.yaml", atomically: true, encoding: .utf8)
        let run = try runCommand(dpmBinary(), ["run", "--config", "\(directory)/dpm.yaml", "--dry-run", "--duration", "5s"])
        #expect(run.status != 0)
        #expect(run.error.contains("\(directory)/missing-token (central.token_file)"), "\(run.error)")
    }
}

/// A `dpm central serve` process on loopback with a SQLite store; learns from 1-second steps at once.
private final class CentralServer {
    let process = Process()
    let port: Int

    init(database: String, port: Int, directory: String) throws {
        let output = "\(directory)/central-\(UInt32.random(in: 0...UInt32.max)).out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        process.executableURL = URL(fileURLWithPath: dpmBinary())
        process.arguments = [
            "central", "serve", "--db", database, "--port", String(port), "--rate-per-second", "100", "--rate-burst", "100",
            "--step-seconds", "1", "--refit-seconds", "1", "--class-recompute-seconds", "1",
        ]
        process.standardOutput = FileHandle(forWritingAtPath: output)
        process.standardError = FileHandle(forWritingAtPath: output)
        try process.run()
        var found: Int?
        for _ in 0..<300 where found == nil && process.isRunning {
            usleep(50_000)
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            found = text.range(of: #"serving on 127\.0\.0\.1:(\d+)"#, options: .regularExpression)
                .flatMap { Int(text[$0].split(separator: ":").last ?? "") }
        }
        guard let found else {
            if process.isRunning { process.terminate() }
            throw CentralServerError.didNotStart(output: (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
        }
        self.port = found
    }

    func metrics() async throws -> String {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        return String(decoding: data, as: UTF8.self)
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }
}

private enum CentralServerError: Error { case didNotStart(output: String) }

/// Sequences waiting in the agent's spool.
private func pendingUploads(_ spool: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: spool).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
}

/// The value of one sample line of Prometheus text (0 when absent).
private func metric(_ text: String, _ name: String) -> Double {
    text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
}

private func waitFor(seconds: Double, _ condition: () throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while try !condition(), Date() < deadline { try await Task.sleep(nanoseconds: 100_000_000) }
}
