import CentralSync
import Foundation
import Pool

/// Where the central service keeps uploads, tenants and tokens: SQLite for one replica, PostgreSQL for several.
///
/// - Important: `store(host:sequence:…)` is atomic and idempotent: the upload log row and every sample of an
///   upload commit together or not at all, and a (host, sequence) already logged stores nothing.
public protocol CentralStore: Sendable {
    /// Brings the schema to the newest version (safe to run from several replicas at once).
    func migrate() async throws
    func store(host: String, sequence: Int64, summaries: [IntervalSummary], receivedAtSeconds: Int64) async throws -> UploadOutcome
    /// SHA-256 of the host's bearer token, nil for an unknown host.
    func tokenHash(host: String) async throws -> [UInt8]?
    func setTokenHash(host: String, sha256: [UInt8], createdAtSeconds: Int64) async throws
    func tenants(seenSinceSeconds: Int64) async throws -> [TenantRecord]
    /// A tenant's means per resource in buckets of `stepSeconds` (averaged over hosts and intervals, weighted by
    /// the seconds each row covers), from `fromSeconds` on, ordered by time.
    func series(tenant: String, fromSeconds: Int64, stepSeconds: Int) async throws -> [ResourceKind: [(bucketSeconds: Int64, mean: Double)]]
    /// Retention: folds rows finer than `intervalSeconds` that start before `beforeSeconds` into one row per
    /// `intervalSeconds`, and deletes coarse rows before `deleteBeforeSeconds` and upload-log rows received before
    /// `forgetUploadsBeforeSeconds`. Returns how many fine rows were folded.
    func downsample(beforeSeconds: Int64, intervalSeconds: Int, deleteBeforeSeconds: Int64, forgetUploadsBeforeSeconds: Int64) async throws -> Int
    func counts() async throws -> StoreCounts
    /// A trivial query, for the health check.
    func ping() async throws
    func close() async throws
}

public enum UploadOutcome: Sendable, Hashable {
    case stored(summaries: Int)
    case duplicate
}

public struct TenantRecord: Sendable, Hashable {
    public var tenant: String
    public var tenantClass: TenantClass
    public var workload: String
    public var lastSeenSeconds: Int64
}

public struct StoreCounts: Sendable, Hashable {
    public var uploads: Int
    public var samples: Int
    /// Sum over samples of (mean × seconds covered): unchanged by downsampling, so tests can check it.
    public var weightedMeanSum: Double
}

/// A store address from the command line: `sqlite:PATH` or `postgres://user:password@host:port/database`.
public enum StoreLocation: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(host: String, port: Int, username: String, password: String?, database: String)

    public init(parsing text: String) throws(ValidationError) {
        if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw ValidationError(field: "--db", reason: "sqlite: needs a file path") }
            self = .sqlite(path: path)
            return
        }
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://"), let url = URLComponents(string: text),
              let host = url.host, !host.isEmpty else {
            throw ValidationError(field: "--db", reason: "\"\(text)\" is neither sqlite:PATH nor postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        }
        let database = String(url.path.drop(while: { $0 == "/" }))
        self = .postgres(
            host: host, port: url.port ?? 5432, username: url.user ?? "postgres",
            password: url.password?.removingPercentEncoding, database: database.isEmpty ? "postgres" : database
        )
    }

    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let host, let port, let username, _, let database): "postgres://\(username)@\(host):\(port)/\(database)"
        }
    }

    /// Opens and migrates the store.
    public func open() async throws -> any CentralStore {
        let store: any CentralStore = switch self {
        case .sqlite(let path): try SQLiteStore(path: path)
        case .postgres(let host, let port, let username, let password, let database):
            PostgresStore(host: host, port: port, username: username, password: password, database: database)
        }
        do {
            try await store.migrate()
        } catch {
            try? await store.close()
            throw error
        }
        return store
    }
}

/// The schema and the SQL both backends share. SQLite reads PostgreSQL's type names by affinity and both
/// understand `ON CONFLICT … DO UPDATE … excluded`, so one text serves both; only placeholders differ (`?` here,
/// numbered for PostgreSQL by `numberedPlaceholders`).
enum Schema {
    /// Every migration, in order; version n is `migrations[n - 1]`. Append only.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE tenants (tenant TEXT PRIMARY KEY, tenant_class TEXT NOT NULL, workload TEXT NOT NULL,
                last_seen_seconds BIGINT NOT NULL)
            """,
            """
            CREATE TABLE uploads (host_id TEXT NOT NULL, sequence BIGINT NOT NULL, received_at_seconds BIGINT NOT NULL,
                summary_count INTEGER NOT NULL, PRIMARY KEY (host_id, sequence))
            """,
            """
            CREATE TABLE samples (host_id TEXT NOT NULL, tenant TEXT NOT NULL, resource SMALLINT NOT NULL,
                start_seconds BIGINT NOT NULL, interval_seconds INTEGER NOT NULL, covered_seconds BIGINT NOT NULL,
                mean DOUBLE PRECISION NOT NULL, p50 DOUBLE PRECISION NOT NULL, p95 DOUBLE PRECISION NOT NULL,
                max_value DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (host_id, tenant, resource, start_seconds, interval_seconds))
            """,
            "CREATE INDEX samples_by_tenant ON samples (tenant, start_seconds)",
            """
            CREATE TABLE host_tokens (host_id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL,
                created_at_seconds BIGINT NOT NULL)
            """,
        ],
    ]

    static let migrationsTable = """
        CREATE TABLE IF NOT EXISTS dpm_schema_migrations (version INTEGER PRIMARY KEY, applied_at_seconds BIGINT NOT NULL)
        """
    static let insertUpload = """
        INSERT INTO uploads (host_id, sequence, received_at_seconds, summary_count) VALUES (?, ?, ?, ?)
        ON CONFLICT (host_id, sequence) DO NOTHING
        """
    static let upsertTenant = """
        INSERT INTO tenants (tenant, tenant_class, workload, last_seen_seconds) VALUES (?, ?, ?, ?)
        ON CONFLICT (tenant) DO UPDATE SET tenant_class = excluded.tenant_class, workload = excluded.workload,
            last_seen_seconds = excluded.last_seen_seconds
        """
    static let tokenHash = "SELECT token_sha256 FROM host_tokens WHERE host_id = ?"
    static let upsertToken = """
        INSERT INTO host_tokens (host_id, token_sha256, created_at_seconds) VALUES (?, ?, ?)
        ON CONFLICT (host_id) DO UPDATE SET token_sha256 = excluded.token_sha256, created_at_seconds = excluded.created_at_seconds
        """
    static let tenants = "SELECT tenant, tenant_class, workload, last_seen_seconds FROM tenants WHERE last_seen_seconds >= ? ORDER BY tenant"
    /// Parameters: step, tenant, from, step.
    static let series = """
        SELECT resource, (start_seconds / ?) * ? AS bucket, SUM(mean * covered_seconds) / SUM(CAST(covered_seconds AS DOUBLE PRECISION))
        FROM samples WHERE tenant = ? AND start_seconds >= ? GROUP BY resource, bucket ORDER BY resource, bucket
        """
    static let counts = "SELECT (SELECT COUNT(*) FROM uploads), (SELECT COUNT(*) FROM samples), (SELECT COALESCE(SUM(mean * covered_seconds), 0) FROM samples)"

    /// Retention, in order, in one transaction: fold fine rows into coarse ones (a different `interval_seconds`,
    /// so never the same key as a fine row; merged with a coarse row already there), drop the fine rows, expire.
    static let downsampleSteps: [(sql: String, parameters: DownsampleParameters)] = [
        ("""
        INSERT INTO samples (host_id, tenant, resource, start_seconds, interval_seconds, covered_seconds, mean, p50, p95, max_value)
        SELECT host_id, tenant, resource, (start_seconds / ?) * ?, ?, SUM(covered_seconds),
            SUM(mean * covered_seconds) / SUM(CAST(covered_seconds AS DOUBLE PRECISION)), SUM(p50 * covered_seconds) / SUM(CAST(covered_seconds AS DOUBLE PRECISION)),
            MAX(p95), MAX(max_value)
        FROM samples WHERE interval_seconds < ? AND start_seconds < ?
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (host_id, tenant, resource, start_seconds, interval_seconds) DO UPDATE SET
            mean = (samples.mean * samples.covered_seconds + excluded.mean * excluded.covered_seconds)
                / (samples.covered_seconds + excluded.covered_seconds),
            p50 = (samples.p50 * samples.covered_seconds + excluded.p50 * excluded.covered_seconds)
                / (samples.covered_seconds + excluded.covered_seconds),
            p95 = CASE WHEN samples.p95 > excluded.p95 THEN samples.p95 ELSE excluded.p95 END,
            max_value = CASE WHEN samples.max_value > excluded.max_value THEN samples.max_value ELSE excluded.max_value END,
            covered_seconds = samples.covered_seconds + excluded.covered_seconds
        """, .fold),
        ("DELETE FROM samples WHERE interval_seconds < ? AND start_seconds < ?", .intervalBefore),
        ("DELETE FROM samples WHERE start_seconds < ?", .deleteBefore),
        ("DELETE FROM uploads WHERE received_at_seconds < ?", .forgetUploadsBefore),
    ]

    enum DownsampleParameters {
        case fold, intervalBefore, deleteBefore, forgetUploadsBefore

        func values(before: Int64, interval: Int64, deleteBefore: Int64, forgetUploadsBefore: Int64) -> [Int64] {
            switch self {
            case .fold: [interval, interval, interval, interval, before]
            case .intervalBefore: [interval, before]
            case .deleteBefore: [deleteBefore]
            case .forgetUploadsBefore: [forgetUploadsBefore]
            }
        }
    }

    /// PostgreSQL's `$1, $2, …` in place of `?` (the shared SQL has no `?` inside literals).
    static func numberedPlaceholders(_ sql: String) -> String {
        var number = 0
        return sql.reduce(into: "") { text, character in
            if character == "?" {
                number += 1
                text += "$\(number)"
            } else {
                text.append(character)
            }
        }
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        return stride(from: 0, to: digits.count, by: 2).compactMap { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16) }
    }
}
