import Central
import CentralSync
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Pool
import Synchronization

/// Ingest: `hosts` simulated edge hosts, each uploading `tenants` tenants x 3 resources every minute, to a central
/// service on loopback (in this process, real HTTP over 127.0.0.1, real store).
///
/// Phase 1 sends at the real rate (each host once a minute, hosts spread evenly over the minute) for `minutes`
/// minutes and reports request latency. Phase 2 sends one more minute's uploads as fast as `concurrency`
/// connections allow: the headroom over the required rate.
struct IngestBenchmark {
    let database: String
    let hosts: Int
    let tenants: Int
    let minutes: Int
    let concurrency: Int

    func run() async throws {
        let location = try StoreLocation(parsing: database)
        if case .sqlite(let path) = location {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let store = try await location.open()
        var tokens = [String]()
        for host in 0..<hosts {
            let token = HostToken.generate()
            try await store.setTokenHash(host: hostID(host), sha256: HostToken.sha256(token), createdAtSeconds: 0)
            tokens.append(token)
        }
        var configuration = CentralConfiguration()
        configuration.port = 0
        let service = try await CentralService.start(store: store, configuration: configuration)
        let base = "http://127.0.0.1:\(service.port)"
        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.httpMaximumConnectionsPerHost = concurrency
        sessionConfiguration.timeoutIntervalForRequest = 120
        let session = URLSession(configuration: sessionConfiguration)
        let firstMinute = (Int64(Date().timeIntervalSince1970) / 60 - Int64(minutes) - 3) * 60
        let bodyBytes = try body(host: 0, minuteStart: firstMinute).count

        print("central-bench ingest: \(location), \(hosts) hosts x \(tenants) tenants x 3 resources = \(tenants * 3) summaries (\(bodyBytes) bytes) per upload")
        print("  server and load generator in one process on loopback (2-core VM, debug build unless stated); learner and retention running")

        // Phase 1: the real rate.
        let paced = Recorder()
        let interval = 60.0 / Double(hosts)
        let phaseStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for minute in 0..<minutes {
                for host in 0..<hosts {
                    let due = phaseStart + .milliseconds(Int64((Double(minute * hosts + host) * interval * 1000).rounded()))
                    if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
                    if inFlight >= concurrency {
                        try await group.next()
                        inFlight -= 1
                    }
                    let lagSeconds = seconds(ContinuousClock.now - due)
                    paced.lag(lagSeconds)
                    let request = try self.request(base: base, host: host, token: tokens[host], minute: minute, minuteStart: firstMinute + Int64(minute * 60))
                    group.addTask { await paced.send(request, session: session) }
                    inFlight += 1
                }
            }
            try await group.waitForAll()
        }
        let pacedSeconds = seconds(ContinuousClock.now - phaseStart)

        // Phase 2: one minute's uploads as fast as possible.
        let burst = Recorder()
        let burstStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for host in 0..<hosts {
                if inFlight >= concurrency {
                    try await group.next()
                    inFlight -= 1
                }
                let request = try self.request(base: base, host: host, token: tokens[host], minute: minutes, minuteStart: firstMinute + Int64(minutes * 60))
                group.addTask { await burst.send(request, session: session) }
                inFlight += 1
            }
            try await group.waitForAll()
        }
        let burstSeconds = seconds(ContinuousClock.now - burstStart)
        let counts = try await store.counts()
        try await service.stop()
        try await store.close()

        let required = Double(hosts) / 60
        let p = paced.snapshot(), b = burst.snapshot()
        print(String(format: "  phase 1, real rate: %d uploads in %.1f s (%.2f uploads/s required %.2f), failures %d, request latency median %.1f ms, p99 %.1f ms, max %.1f ms; sender lag p99 %.1f ms",
                     p.count, pacedSeconds, Double(p.count) / pacedSeconds, required, p.failures, p.median * 1000, p.p99 * 1000, p.max * 1000, p.lagP99 * 1000))
        print(String(format: "  phase 2, %d connections flat out: %d uploads in %.1f s = %.1f uploads/s (%.0f summaries/s), failures %d, latency median %.1f ms, p99 %.1f ms; headroom %.1fx the required rate",
                     concurrency, b.count, burstSeconds, Double(b.count) / burstSeconds, Double(b.count * tenants * 3) / burstSeconds,
                     b.failures, b.median * 1000, b.p99 * 1000, Double(b.count) / burstSeconds / required))
        print("  store after the run: \(counts.uploads) uploads, \(counts.samples) samples (expected \((minutes + 1) * hosts) and \((minutes + 1) * hosts * tenants * 3))")
    }

    func hostID(_ host: Int) -> String { "bench-edge-\(host)" }

    func body(host: Int, minuteStart: Int64) throws -> Data {
        var summaries = [IntervalSummary]()
        for tenant in 0..<tenants {
            for resource in ResourceKind.allCases {
                let base = Double((host * 31 + tenant * 7 + resource.rawValue) % 97 + 1)
                let mean = base * (1 + 0.2 * sin(Double(minuteStart) / 3600))
                summaries.append(IntervalSummary(
                    tenant: "h\(host)-t\(tenant)", tenantClass: .burstable, workload: "w\(tenant % 8)", resource: resource,
                    startSeconds: minuteStart, intervalSeconds: 60, mean: mean, p50: mean, p95: mean * 1.3, max: mean * 1.5
                ))
            }
        }
        return try JSONEncoder().encode(UploadBody(summaries: summaries))
    }

    func request(base: String, host: Int, token: String, minute: Int, minuteStart: Int64) throws -> URLRequest {
        var request = URLRequest(url: URL(string: "\(base)/v1/hosts/\(hostID(host))/uploads/\(minute)")!)
        request.httpMethod = "PUT"
        request.httpBody = try body(host: host, minuteStart: minuteStart)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        return request
    }
}

/// Request latencies and failures of one phase.
final class Recorder: Sendable {
    private let state = Mutex((latencies: [Double](), lags: [Double](), failures: 0))

    func send(_ request: URLRequest, session: URLSession) async {
        let start = ContinuousClock.now
        let ok: Bool
        do {
            let (_, response) = try await session.data(for: request)
            ok = (response as? HTTPURLResponse)?.statusCode == 201
        } catch {
            ok = false
        }
        let elapsed = seconds(ContinuousClock.now - start)
        state.withLock {
            $0.latencies.append(elapsed)
            if !ok { $0.failures += 1 }
        }
    }

    func lag(_ value: Double) { state.withLock { $0.lags.append(value) } }

    func snapshot() -> (count: Int, failures: Int, median: Double, p99: Double, max: Double, lagP99: Double) {
        state.withLock { state in
            let sorted = state.latencies.sorted(), lags = state.lags.sorted()
            func quantile(_ values: [Double], _ q: Double) -> Double {
                values.isEmpty ? 0 : values[min(values.count - 1, Int(Double(values.count) * q))]
            }
            return (sorted.count, state.failures, quantile(sorted, 0.5), quantile(sorted, 0.99), sorted.last ?? 0, quantile(lags, 0.99))
        }
    }
}
