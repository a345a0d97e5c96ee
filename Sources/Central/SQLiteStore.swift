import CentralSync
import Foundation
import GRDB
import Pool

/// The embedded store: one SQLite file in WAL mode (GRDB), nothing to install.
public final class SQLiteStore: CentralStore {
    private let database: DatabasePool
    public let path: String

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        self.path = path
        self.database = try DatabasePool(path: path, configuration: configuration)
    }

    public func migrate() async throws {
        try await database.write { db in
            try db.execute(sql: Schema.migrationsTable)
            let applied = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(version), 0) FROM dpm_schema_migrations") ?? 0
            for (index, statements) in Schema.migrations.enumerated() where index + 1 > applied {
                for statement in statements { try db.execute(sql: statement) }
                try db.execute(
                    sql: "INSERT INTO dpm_schema_migrations (version, applied_at_seconds) VALUES (?, ?)",
                    arguments: [index + 1, Int64(Date().timeIntervalSince1970)]
                )
            }
        }
    }

    public func store(host: String, sequence: Int64, summaries: [IntervalSummary], receivedAtSeconds: Int64) async throws -> UploadOutcome {
        try await database.write { db in
            try db.execute(sql: Schema.insertUpload, arguments: [host, sequence, receivedAtSeconds, summaries.count])
            guard db.changesCount == 1 else { return .duplicate }
            let insertSample = try db.cachedStatement(sql: SQLiteStore.insertSample)
            for summary in summaries {
                try insertSample.execute(arguments: [
                    host, summary.tenant, summary.resource.rawValue, summary.startSeconds, summary.intervalSeconds,
                    summary.intervalSeconds, summary.mean, summary.p50, summary.p95, summary.max,
                ])
            }
            let upsertTenant = try db.cachedStatement(sql: Schema.upsertTenant)
            for summary in SQLiteStore.lastPerTenant(summaries) {
                try upsertTenant.execute(arguments: [summary.tenant, summary.tenantClass.rawValue, summary.workload, receivedAtSeconds])
            }
            return .stored(summaries: summaries.count)
        }
    }

    public func tokenHash(host: String) async throws -> [UInt8]? {
        try await database.read { db in
            try String.fetchOne(db, sql: Schema.tokenHash, arguments: [host]).flatMap(Schema.bytes(hex:))
        }
    }

    public func setTokenHash(host: String, sha256: [UInt8], createdAtSeconds: Int64) async throws {
        try await database.write { db in
            try db.execute(sql: Schema.upsertToken, arguments: [host, Schema.hex(sha256), createdAtSeconds])
        }
    }

    public func tenants(seenSinceSeconds: Int64) async throws -> [TenantRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: Schema.tenants, arguments: [seenSinceSeconds]).compactMap { row in
                guard let tenantClass = TenantClass(rawValue: row[1]) else { return nil }
                return TenantRecord(tenant: row[0], tenantClass: tenantClass, workload: row[2], lastSeenSeconds: row[3])
            }
        }
    }

    public func series(tenant: String, fromSeconds: Int64, stepSeconds: Int) async throws -> [ResourceKind: [(bucketSeconds: Int64, mean: Double)]] {
        let rows = try await database.read { db in
            try Row.fetchAll(db, sql: Schema.series, arguments: [stepSeconds, stepSeconds, tenant, fromSeconds])
                .map { row -> (Int, Int64, Double) in (row[0], row[1], row[2]) }
        }
        var result = [ResourceKind: [(bucketSeconds: Int64, mean: Double)]]()
        for (resource, bucket, mean) in rows {
            guard let kind = ResourceKind(rawValue: resource) else { continue }
            result[kind, default: []].append((bucket, mean))
        }
        return result
    }

    public func downsample(beforeSeconds: Int64, intervalSeconds: Int, deleteBeforeSeconds: Int64, forgetUploadsBeforeSeconds: Int64) async throws -> Int {
        try await database.write { db in
            var folded = 0
            for (sql, parameters) in Schema.downsampleSteps {
                let values = parameters.values(
                    before: beforeSeconds, interval: Int64(intervalSeconds), deleteBefore: deleteBeforeSeconds,
                    forgetUploadsBefore: forgetUploadsBeforeSeconds
                )
                try db.execute(sql: sql, arguments: StatementArguments(values))
                if case .intervalBefore = parameters { folded = db.changesCount }
            }
            return folded
        }
    }

    public func counts() async throws -> StoreCounts {
        try await database.read { db in
            let row = try Row.fetchOne(db, sql: Schema.counts)!
            return StoreCounts(uploads: row[0], samples: row[1], weightedMeanSum: row[2])
        }
    }

    public func ping() async throws {
        _ = try await database.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    public func close() async throws {
        try database.close()
    }

    static let insertSample = """
        INSERT INTO samples (host_id, tenant, resource, start_seconds, interval_seconds, covered_seconds, mean, p50, p95, max_value)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
        """

    /// One summary per tenant (the last), for the tenant table's labels.
    static func lastPerTenant(_ summaries: [IntervalSummary]) -> [IntervalSummary] {
        var byTenant = [String: IntervalSummary]()
        for summary in summaries { byTenant[summary.tenant] = summary }
        return byTenant.values.sorted { $0.tenant < $1.tenant }
    }
}
