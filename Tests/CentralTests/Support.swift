import CentralSync
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Pool
import PostgresNIO
@testable import Central

/// The two store backends every API test runs against, both real: a SQLite file and a PostgreSQL database.
enum Backend: String, CaseIterable, Sendable {
    case sqlite, postgres

    /// The server scripts/setup.sh starts; override with DPM_TEST_POSTGRES_URL.
    static let postgresURL = ProcessInfo.processInfo.environment["DPM_TEST_POSTGRES_URL"]
        ?? "postgres://dpm_test:dpm_test@127.0.0.1:5432/dpm_test"

    /// A fresh, empty store location (a new file, or a new database) and a cleanup that removes it.
    func makeLocation() async throws -> (StoreLocation, @Sendable () async -> Void) {
        let name = "dpm_test_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return (.sqlite(path: directory.appendingPathComponent("central.sqlite").path), {
                try? FileManager.default.removeItem(at: directory)
            })
        case .postgres:
            guard case .postgres(let host, let port, let username, let password, let database) = try StoreLocation(parsing: Self.postgresURL) else {
                throw ValidationError(field: "DPM_TEST_POSTGRES_URL", reason: "not a postgres:// URL")
            }
            let admin = Self.adminConfiguration(host: host, port: port, username: username, password: password, database: database)
            try await Self.execute("CREATE DATABASE \(name)", admin)
            return (.postgres(host: host, port: port, username: username, password: password, database: name), {
                try? await Self.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", admin)
            })
        }
    }

    private static func adminConfiguration(host: String, port: Int, username: String, password: String?, database: String) -> PostgresConnection.Configuration {
        PostgresConnection.Configuration(host: host, port: port, username: username, password: password, database: database, tls: .disable)
    }

    private static func execute(_ sql: String, _ configuration: PostgresConnection.Configuration) async throws {
        let logger = Logger(label: "dpm.central.tests")
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        defer { Task { try? await connection.close() } }
        try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }
}

/// Runs `body` with a fresh, empty store location of `backend` and removes it afterwards, also on failure.
func withFreshLocation(_ backend: Backend, _ body: (StoreLocation) async throws -> Void) async throws {
    let (location, cleanup) = try await backend.makeLocation()
    do {
        try await body(location)
    } catch {
        await cleanup()
        throw error
    }
    await cleanup()
}

/// A store plus a running service on a random loopback port, and a registered host with its token.
struct Harness: Sendable {
    let location: StoreLocation
    let store: any CentralStore
    let service: CentralService
    let host: String
    let token: String

    var baseURL: URL { URL(string: "http://127.0.0.1:\(service.port)")! }

    static func start(
        _ location: StoreLocation, configure: (inout CentralConfiguration) -> Void = { _ in }
    ) async throws -> Harness {
        let store = try await location.open()
        let host = "edge-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let token = HostToken.generate()
        try await store.setTokenHash(host: host, sha256: HostToken.sha256(token), createdAtSeconds: 0)
        let service = try await CentralService.start(store: store, configuration: testConfiguration(configure))
        return Harness(location: location, store: store, service: service, host: host, token: token)
    }

    static func testConfiguration(_ configure: (inout CentralConfiguration) -> Void = { _ in }) -> CentralConfiguration {
        var configuration = CentralConfiguration()
        configuration.port = 0
        configuration.ratePerSecond = 1000
        configuration.rateBurst = 1000
        configuration.retention = false
        configuration.learner.refitSeconds = 0
        configuration.learner.classRecomputeSeconds = 0
        configuration.learner.roundSeconds = 3600
        configure(&configuration)
        return configuration
    }

    func stop() async throws {
        try await service.stop()
        try await store.close()
    }

    func client(spool: URL, baseURL: URL? = nil) throws -> CentralSyncClient {
        try CentralSyncClient(configuration: CentralSyncConfiguration(
            baseURL: baseURL ?? self.baseURL, hostID: host, token: token, spoolDirectory: spool,
            initialBackoffSeconds: 0.05, maxBackoffSeconds: 0.2, requestTimeoutSeconds: 5
        ))
    }

    /// A raw request, for payloads the client would never send.
    func send(_ method: String, _ path: String, body: Data = Data(), token: String?? = .none) async throws -> (status: Int, text: String) {
        var request = URLRequest(url: baseURL.appendingPathComponent(path))
        request.httpMethod = method
        if method != "GET" { request.httpBody = body }
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        switch token {
        case .none: request.setValue("Bearer \(self.token)", forHTTPHeaderField: "Authorization")
        case .some(.some(let other)): request.setValue("Bearer \(other)", forHTTPHeaderField: "Authorization")
        case .some(.none): break
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, String(decoding: data, as: UTF8.self))
    }

    func upload(_ sequence: Int64, _ summaries: [IntervalSummary]) async throws -> (status: Int, text: String) {
        try await send("PUT", "v1/hosts/\(host)/uploads/\(sequence)", body: try JSONEncoder().encode(UploadBody(summaries: summaries)))
    }
}

/// Summaries of a synthetic tenant: a daily sine around `level` (5-minute steps), ending about an hour ago.
func dailySineSummaries(
    tenant: String, workload: String, steps: Int, level: Double = 4, amplitude: Double = 2,
    resource: ResourceKind = .cpu, stepSeconds: Int = 300, endSeconds: Int64 = Int64(Date().timeIntervalSince1970) - 3600
) -> [IntervalSummary] {
    let end = endSeconds / Int64(stepSeconds) * Int64(stepSeconds)
    return (0..<steps).map { index in
        let start = end - Int64((steps - index) * stepSeconds)
        let value = dailySine(atSeconds: start, level: level, amplitude: amplitude)
        return IntervalSummary(
            tenant: tenant, tenantClass: .burstable, workload: workload, resource: resource, startSeconds: start,
            intervalSeconds: stepSeconds, mean: value, p50: value, p95: value * 1.1, max: value * 1.2
        )
    }
}

func dailySine(atSeconds seconds: Int64, level: Double = 4, amplitude: Double = 2) -> Double {
    level + amplitude * sin(2 * Double.pi * Double(seconds % 86_400) / 86_400)
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("dpm-test-" + UUID().uuidString)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
