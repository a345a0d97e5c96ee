import CentralSync
import Foundation
import Logging
import Pool
import PostgresNIO

/// The shared store for several central replicas: PostgreSQL through postgres-nio's connection pool.
///
/// Samples of an upload go in with one statement (`unnest` of column arrays), inside the same transaction as the
/// upload-log row, so an upload is stored whole or not at all.
public final class PostgresStore: CentralStore {
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger

    public init(host: String, port: Int, username: String, password: String?, database: String) {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable
        )
        configuration.options.maximumConnections = 8
        var logger = Logger(label: "dpm.central.postgres")
        logger.logLevel = .warning
        self.logger = logger
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.runner = Task { await client.run() }
    }

    public func migrate() async throws {
        try await client.withTransaction(logger: logger) { connection in
            // One replica migrates at a time; the others wait here and then find nothing left to do.
            try await connection.query("SELECT pg_advisory_xact_lock(8042026)", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: Schema.migrationsTable), logger: logger)
            var applied = 0
            for try await version in try await connection.query(
                "SELECT COALESCE(MAX(version), 0) FROM dpm_schema_migrations", logger: logger
            ).decode(Int.self) {
                applied = version
            }
            for (index, statements) in Schema.migrations.enumerated() where index + 1 > applied {
                for statement in statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                let version = index + 1, now = Int64(Date().timeIntervalSince1970)
                try await connection.query(
                    "INSERT INTO dpm_schema_migrations (version, applied_at_seconds) VALUES (\(version), \(now))", logger: logger
                )
            }
        }
    }

    public func store(host: String, sequence: Int64, summaries: [IntervalSummary], receivedAtSeconds: Int64) async throws -> UploadOutcome {
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            var inserted = false
            for try await _ in try await connection.query(
                PostgresQuery(unsafeSQL: Schema.numberedPlaceholders(Schema.insertUpload) + " RETURNING sequence",
                              binds: try Self.binds(host, sequence, receivedAtSeconds, summaries.count)),
                logger: logger
            ) {
                inserted = true
            }
            guard inserted else { return .duplicate }
            try await connection.query(
                """
                INSERT INTO samples (host_id, tenant, resource, start_seconds, interval_seconds, covered_seconds, mean, p50, p95, max_value)
                SELECT \(host), * FROM unnest(\(summaries.map(\.tenant))::text[], \(summaries.map { Int16($0.resource.rawValue) })::int2[],
                    \(summaries.map(\.startSeconds))::int8[], \(summaries.map { Int32($0.intervalSeconds) })::int4[],
                    \(summaries.map { Int64($0.intervalSeconds) })::int8[], \(summaries.map(\.mean))::float8[],
                    \(summaries.map(\.p50))::float8[], \(summaries.map(\.p95))::float8[], \(summaries.map(\.max))::float8[])
                ON CONFLICT DO NOTHING
                """,
                logger: logger
            )
            let tenants = SQLiteStore.lastPerTenant(summaries)
            try await connection.query(
                """
                INSERT INTO tenants (tenant, tenant_class, workload, last_seen_seconds)
                SELECT *, \(receivedAtSeconds)::int8 FROM unnest(\(tenants.map(\.tenant))::text[],
                    \(tenants.map(\.tenantClass.rawValue))::text[], \(tenants.map(\.workload))::text[])
                ON CONFLICT (tenant) DO UPDATE SET tenant_class = excluded.tenant_class, workload = excluded.workload,
                    last_seen_seconds = excluded.last_seen_seconds
                """,
                logger: logger
            )
            return .stored(summaries: summaries.count)
        }
    }

    public func tokenHash(host: String) async throws -> [UInt8]? {
        var hash: [UInt8]?
        for try await hex in try await query(Schema.tokenHash, host).decode(String.self) {
            hash = Schema.bytes(hex: hex)
        }
        return hash
    }

    public func setTokenHash(host: String, sha256: [UInt8], createdAtSeconds: Int64) async throws {
        _ = try await query(Schema.upsertToken, host, Schema.hex(sha256), createdAtSeconds)
    }

    public func tenants(seenSinceSeconds: Int64) async throws -> [TenantRecord] {
        var records = [TenantRecord]()
        for try await (tenant, tenantClass, workload, lastSeen) in try await query(Schema.tenants, seenSinceSeconds)
            .decode((String, String, String, Int64).self) {
            guard let tenantClass = TenantClass(rawValue: tenantClass) else { continue }
            records.append(TenantRecord(tenant: tenant, tenantClass: tenantClass, workload: workload, lastSeenSeconds: lastSeen))
        }
        return records
    }

    public func series(tenant: String, fromSeconds: Int64, stepSeconds: Int) async throws -> [ResourceKind: [(bucketSeconds: Int64, mean: Double)]] {
        var result = [ResourceKind: [(bucketSeconds: Int64, mean: Double)]]()
        let step = Int64(stepSeconds)
        for try await (resource, bucket, mean) in try await query(Schema.series, step, step, tenant, fromSeconds)
            .decode((Int16, Int64, Double).self) {
            guard let kind = ResourceKind(rawValue: Int(resource)) else { continue }
            result[kind, default: []].append((bucket, mean))
        }
        return result
    }

    public func downsample(beforeSeconds: Int64, intervalSeconds: Int, deleteBeforeSeconds: Int64, forgetUploadsBeforeSeconds: Int64) async throws -> Int {
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            var folded = 0
            for (sql, parameters) in Schema.downsampleSteps {
                var binds = PostgresBindings()
                for value in parameters.values(
                    before: beforeSeconds, interval: Int64(intervalSeconds), deleteBefore: deleteBeforeSeconds,
                    forgetUploadsBefore: forgetUploadsBeforeSeconds
                ) { binds.append(value) }
                let isFold = if case .intervalBefore = parameters { true } else { false }
                let text = Schema.numberedPlaceholders(sql) + (isFold ? " RETURNING 1" : "")
                for try await _ in try await connection.query(PostgresQuery(unsafeSQL: text, binds: binds), logger: logger) {
                    folded += 1
                }
            }
            return folded
        }
    }

    public func counts() async throws -> StoreCounts {
        var counts = StoreCounts(uploads: 0, samples: 0, weightedMeanSum: 0)
        for try await (uploads, samples, sum) in try await query(Schema.counts).decode((Int64, Int64, Double).self) {
            counts = StoreCounts(uploads: Int(uploads), samples: Int(samples), weightedMeanSum: sum)
        }
        return counts
    }

    public func ping() async throws {
        try await client.query("SELECT 1", logger: logger)
    }

    public func close() async throws {
        runner.cancel()
        await runner.value
    }

    private func query(_ sql: String, _ values: any PostgresThrowingDynamicTypeEncodable...) async throws -> PostgresRowSequence {
        try await client.query(
            PostgresQuery(unsafeSQL: Schema.numberedPlaceholders(sql), binds: try Self.binds(values)), logger: logger
        )
    }

    private static func binds(_ values: any PostgresThrowingDynamicTypeEncodable...) throws -> PostgresBindings {
        try binds(values)
    }

    private static func binds(_ values: [any PostgresThrowingDynamicTypeEncodable]) throws -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values { try binds.append(value) }
        return binds
    }
}
