import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Pool

/// Where the edge finds its central service and how often it talks to it.
public struct CentralSyncConfiguration: Sendable {
    /// Base address of the central service, e.g. `http://central.example:8470`.
    public var baseURL: URL
    /// This host's id, as registered with `dpm central token add HOST`.
    public var hostID: String
    /// This host's bearer token (printed once by `dpm central token add`).
    public var token: String
    /// Folder for uploads not yet acknowledged; survives agent restarts.
    public var spoolDirectory: URL
    public var uploadIntervalSeconds: Double
    public var priorRefreshSeconds: Double
    /// First wait after a failed upload; doubles on each further failure up to `maxBackoffSeconds`.
    public var initialBackoffSeconds: Double
    public var maxBackoffSeconds: Double
    public var requestTimeoutSeconds: Double

    public init(
        baseURL: URL, hostID: String, token: String, spoolDirectory: URL,
        uploadIntervalSeconds: Double = 60, priorRefreshSeconds: Double = 600,
        initialBackoffSeconds: Double = 1, maxBackoffSeconds: Double = 300, requestTimeoutSeconds: Double = 30
    ) {
        self.baseURL = baseURL
        self.hostID = hostID
        self.token = token
        self.spoolDirectory = spoolDirectory
        self.uploadIntervalSeconds = uploadIntervalSeconds
        self.priorRefreshSeconds = priorRefreshSeconds
        self.initialBackoffSeconds = initialBackoffSeconds
        self.maxBackoffSeconds = maxBackoffSeconds
        self.requestTimeoutSeconds = requestTimeoutSeconds
    }
}

/// What one `flush` did.
public struct FlushReport: Sendable, Hashable {
    /// Sequences central stored now.
    public var stored: [Int64] = []
    /// Sequences central already had (a retry after a lost acknowledgement).
    public var duplicates: [Int64] = []
    /// Sequences central refused as invalid (moved to the spool's `rejected/`).
    public var rejected: [Int64] = []
    /// Sequences still waiting because central could not be reached or asked to wait.
    public var pending: [Int64] = []
    /// Why the flush stopped early, if it did.
    public var failure: CentralSyncError?

    public static func == (lhs: FlushReport, rhs: FlushReport) -> Bool {
        lhs.stored == rhs.stored && lhs.duplicates == rhs.duplicates && lhs.rejected == rhs.rejected
            && lhs.pending == rhs.pending && (lhs.failure == nil) == (rhs.failure == nil)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(stored)
        hasher.combine(pending)
    }
}

/// The edge agent's link to the central service: uploads interval summaries, fetches priors.
///
/// Runs on the agent's slow side (Swift concurrency), never on the tick thread. Every upload is spooled to disk
/// first and sent in sequence order; when central is down, uploads accumulate on disk and go out after it
/// returns, with exponential backoff between attempts. Sequence numbers make retries idempotent on the server.
public actor CentralSyncClient {
    public nonisolated let configuration: CentralSyncConfiguration
    public nonisolated let spool: UploadSpool
    private let session: URLSession
    private var backoffSeconds: Double = 0
    private var nextAttemptUptime: Double = 0

    public init(configuration: CentralSyncConfiguration) throws(CentralSyncError) {
        self.configuration = configuration
        self.spool = try UploadSpool(directory: configuration.spoolDirectory)
        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.timeoutIntervalForRequest = configuration.requestTimeoutSeconds
        self.session = URLSession(configuration: sessionConfiguration)
    }

    /// Spools one interval's summaries for upload; returns the sequence number they were given.
    @discardableResult
    public func enqueue(_ summaries: [IntervalSummary]) throws(CentralSyncError) -> Int64 {
        try spool.append(UploadBody(summaries: summaries))
    }

    /// Sends every spooled upload in sequence order, stopping at the first one central cannot take now.
    public func flush() async -> FlushReport {
        var report = FlushReport()
        let sequences: [Int64]
        do { sequences = try spool.pendingSequences() } catch {
            report.failure = error
            return report
        }
        for (index, sequence) in sequences.enumerated() {
            do {
                let receipt = try await upload(sequence)
                try spool.remove(sequence)
                if receipt.duplicate { report.duplicates.append(sequence) } else { report.stored.append(sequence) }
            } catch let error {
                if case .status(_, let code, _) = error, Self.isPermanentRefusal(code) {
                    do { try spool.reject(sequence) } catch {
                        report.failure = error
                        report.pending = Array(sequences[index...])
                        return report
                    }
                    report.rejected.append(sequence)
                    continue
                }
                report.failure = error
                report.pending = Array(sequences[index...])
                return report
            }
        }
        return report
    }

    /// Asks central for priors of the given tenants.
    public func fetchPriors(for tenants: [TenantDescriptor]) async throws(CentralSyncError) -> PriorsResponse {
        let url = hostURL().appendingPathComponent("priors")
        let body: Data
        do { body = try JSONEncoder().encode(PriorsRequest(tenants: tenants)) } catch {
            throw .malformedResponse(url: url.absoluteString, reason: "cannot encode request: \(error)")
        }
        let data = try await send("POST", url: url, body: body)
        do { return try JSONDecoder().decode(PriorsResponse.self, from: data) } catch {
            throw .malformedResponse(url: url.absoluteString, reason: "\(error)")
        }
    }

    /// The sync loop: every upload interval spool `summaries()` and flush (backing off while central fails), and
    /// report each flush that sent something to `onUpload`; every prior-refresh period fetch priors for
    /// `tenants()` and hand central's answer to `deliver`. Returns when the task is cancelled.
    public func run(
        summaries: @escaping @Sendable () async -> [IntervalSummary],
        tenants: @escaping @Sendable () async -> [TenantDescriptor],
        deliver: @escaping @Sendable (PriorsResponse) async -> Void,
        onUpload: @escaping @Sendable (FlushReport) async -> Void = { _ in },
        onError: @escaping @Sendable (CentralSyncError) async -> Void = { _ in }
    ) async {
        var nextPriorFetch = 0.0
        while !Task.isCancelled {
            let batch = await summaries()
            if !batch.isEmpty {
                do { try enqueue(batch) } catch { await onError(error) }
            }
            if let report = await flushReportWithBackoff() {
                if let failure = report.failure { await onError(failure) }
                if !(report.stored.isEmpty && report.duplicates.isEmpty && report.rejected.isEmpty) { await onUpload(report) }
            }
            if Self.uptimeSeconds() >= nextPriorFetch {
                do {
                    await deliver(try await fetchPriors(for: await tenants()))
                    nextPriorFetch = Self.uptimeSeconds() + configuration.priorRefreshSeconds
                } catch {
                    await onError(error)
                    nextPriorFetch = Self.uptimeSeconds() + min(configuration.priorRefreshSeconds, max(1, backoffSeconds))
                }
            }
            try? await Task.sleep(nanoseconds: UInt64(configuration.uploadIntervalSeconds * 1e9))
        }
    }

    /// Flushes unless a previous failure's backoff has not expired; doubles the backoff on failure.
    public func flushWithBackoff() async -> CentralSyncError? {
        await flushReportWithBackoff()?.failure
    }

    /// As `flushWithBackoff`, with the whole report; nil when the backoff held the flush back.
    private func flushReportWithBackoff() async -> FlushReport? {
        guard Self.uptimeSeconds() >= nextAttemptUptime else { return nil }
        let report = await flush()
        if report.failure != nil {
            backoffSeconds = backoffSeconds == 0
                ? configuration.initialBackoffSeconds : min(configuration.maxBackoffSeconds, backoffSeconds * 2)
            nextAttemptUptime = Self.uptimeSeconds() + backoffSeconds
        } else {
            backoffSeconds = 0
            nextAttemptUptime = 0
        }
        return report
    }

    private func upload(_ sequence: Int64) async throws(CentralSyncError) -> UploadReceipt {
        let url = hostURL().appendingPathComponent("uploads").appendingPathComponent(String(sequence))
        let data = try await send("PUT", url: url, body: try spool.body(of: sequence))
        do { return try JSONDecoder().decode(UploadReceipt.self, from: data) } catch {
            throw .malformedResponse(url: url.absoluteString, reason: "\(error)")
        }
    }

    private func send(_ method: String, url: URL, body: Data) async throws(CentralSyncError) -> Data {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("Bearer \(configuration.token)", forHTTPHeaderField: "Authorization")
        let data: Data, response: URLResponse
        do { (data, response) = try await session.data(for: request) } catch {
            throw .unreachable(url: url.absoluteString, reason: (error as NSError).localizedDescription)
        }
        guard let http = response as? HTTPURLResponse else {
            throw .malformedResponse(url: url.absoluteString, reason: "not an HTTP response")
        }
        guard (200..<300).contains(http.statusCode) else {
            throw .status(url: url.absoluteString, code: http.statusCode, message: String(decoding: data, as: UTF8.self))
        }
        return data
    }

    private func hostURL() -> URL {
        configuration.baseURL.appendingPathComponent("v1").appendingPathComponent("hosts")
            .appendingPathComponent(configuration.hostID)
    }

    /// 4xx answers that retrying the same bytes cannot fix; 401/403 (credentials) and 408/429 (wait) are not.
    private static func isPermanentRefusal(_ code: Int) -> Bool {
        (400..<500).contains(code) && ![401, 403, 408, 429].contains(code)
    }

    private static func uptimeSeconds() -> Double {
        ProcessInfo.processInfo.systemUptime
    }
}
