import CentralSync
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// Everything `dpm central serve` can be told.
public struct CentralConfiguration: Sendable {
    /// Address to listen on; `127.0.0.1` keeps it on loopback.
    public var bindHost: String = "127.0.0.1"
    /// Port to listen on; 0 picks a free one (tests).
    public var port: Int = 8470
    public var limits = ValidationLimits()
    /// Requests per second each host may make on average, and in a burst.
    public var ratePerSecond: Double = 5
    public var rateBurst: Double = 30
    public var learner = LearnerConfiguration()
    /// Run retention (downsampling) in the background.
    public var retention = true

    public init() {}
}

/// A running central service: its HTTP server, learner and retention under one service group.
public final class CentralService: Sendable {
    public let port: Int
    public let metrics: CentralMetrics
    public let learner: Learner
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(port: Int, metrics: CentralMetrics, learner: Learner, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.metrics = metrics
        self.learner = learner
        self.group = group
        self.task = task
    }

    /// Starts serving on `configuration.port` (0: any free port) and returns once the server listens.
    /// - Parameter stopOnSignals: shut down gracefully on SIGTERM and SIGINT (the command does; tests do not).
    public static func start(
        store: any CentralStore, configuration: CentralConfiguration, stopOnSignals: Bool = false,
        nowSeconds: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) async throws -> CentralService {
        var logger = Logger(label: "dpm.central")
        logger.logLevel = .warning
        let metrics = CentralMetrics()
        let learner = Learner(store: store, metrics: metrics, configuration: configuration.learner, nowSeconds: nowSeconds)
        let api = CentralAPI(
            store: store, learner: learner, metrics: metrics, validator: RequestValidator(limits: configuration.limits),
            authority: TokenAuthority(store: store),
            limiter: RateLimiter(ratePerSecond: configuration.ratePerSecond, burst: configuration.rateBurst),
            nowSeconds: nowSeconds
        )
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: api.router(),
            configuration: ApplicationConfiguration(address: .hostname(configuration.bindHost, port: configuration.port), serverName: "dpm-central"),
            onServerRunning: { channel in portSink.yield(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        var services: [any Service] = [app, learner]
        if configuration.retention { services.append(RetentionService(store: store, metrics: metrics)) }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: stopOnSignals ? [.sigterm, .sigint] : [], logger: logger
        ))
        let task = Task {
            defer { portSink.finish() }
            try await group.run()
        }
        for await port in ports {
            return CentralService(port: port, metrics: metrics, learner: learner, group: group, task: task)
        }
        try await task.value
        throw ValidationError(field: "--port", reason: "the server stopped before it listened")
    }

    /// Waits until the service stops (a signal, or `stop()`).
    public func wait() async throws {
        try await task.value
    }

    /// Stops gracefully: in-flight requests finish, then the server, learner and retention end.
    public func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}

/// The HTTP API (see `openapi.yaml`): uploads, priors, health, metrics.
struct CentralAPI: Sendable {
    let store: any CentralStore
    let learner: Learner
    let metrics: CentralMetrics
    let validator: RequestValidator
    let authority: TokenAuthority
    let limiter: RateLimiter
    let nowSeconds: @Sendable () -> Int64

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: LatencyMiddleware(metrics: metrics))
        router.get("healthz") { _, _ in try await self.health() }
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: self.metrics.render())))
        }
        router.put("v1/hosts/:host/uploads/:sequence") { request, context in try await self.upload(request, context) }
        router.post("v1/hosts/:host/priors") { request, context in try await self.priors(request, context) }
        return router
    }

    func health() async throws -> Response {
        do { try await store.ping() } catch {
            throw HTTPError(.serviceUnavailable, message: "store unreachable: \(error)")
        }
        return try json(.ok, ["status": "ok"])
    }

    func upload(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let host = try await admit(request, context)
        let sequenceText = try context.parameters.require("sequence")
        let sequence = try refuseInvalid { () throws(ValidationError) in try validator.validateSequence(sequenceText) }
        let body = try await decode(UploadBody.self, request)
        let now = nowSeconds()
        try refuseInvalid { () throws(ValidationError) in try validator.validate(body, nowSeconds: now) }
        let outcome = try await store.store(host: host, sequence: sequence, summaries: body.summaries, receivedAtSeconds: now)
        switch outcome {
        case .duplicate:
            metrics.increment("dpm_central_uploads_total{outcome=\"duplicate\"}")
            return try json(.ok, UploadReceipt(host: host, sequence: sequence, duplicate: true, storedSummaries: 0))
        case .stored(let count):
            metrics.increment("dpm_central_uploads_total{outcome=\"stored\"}")
            metrics.increment("dpm_central_summaries_stored_total", by: Double(count))
            learner.noteUpload(body.summaries)
            return try json(.created, UploadReceipt(host: host, sequence: sequence, duplicate: false, storedSummaries: count))
        }
    }

    func priors(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        _ = try await admit(request, context)
        let body = try await decode(PriorsRequest.self, request)
        try refuseInvalid { () throws(ValidationError) in try validator.validate(body) }
        let response = learner.priors(for: body.tenants)
        for prior in response.priors { metrics.increment("dpm_central_priors_served_total{source=\"\(prior.source.rawValue)\"}") }
        return try json(.ok, response)
    }

    /// Host id from the path, its bearer token, its rate: the checks every host route starts with.
    private func admit(_ request: Request, _ context: BasicRequestContext) async throws -> String {
        let host = try context.parameters.require("host")
        try refuseInvalid { () throws(ValidationError) in try validator.validateHostID(host) }
        guard try await authority.authenticate(host: host, authorization: request.headers[.authorization]) else {
            metrics.increment("dpm_central_rejections_total{reason=\"unauthorized\"}")
            throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Bearer"], message: "missing or wrong bearer token for host \(host)")
        }
        let (admitted, retryAfter) = limiter.admit(host: host)
        guard admitted else {
            metrics.increment("dpm_central_rejections_total{reason=\"rate\"}")
            throw HTTPError(.tooManyRequests, headers: [.retryAfter: String(Int(retryAfter.rounded(.up)))],
                            message: "host \(host) is over its request rate; retry after \(Int(retryAfter.rounded(.up))) s")
        }
        return host
    }

    private func decode<Body: Decodable>(_ type: Body.Type, _ request: Request) async throws -> Body {
        let limit = validator.limits.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            metrics.increment("dpm_central_rejections_total{reason=\"too_large\"}")
            throw HTTPError(.contentTooLarge, message: "body of \(length) bytes exceeds the limit of \(limit)")
        }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: limit) } catch {
            metrics.increment("dpm_central_rejections_total{reason=\"too_large\"}")
            throw HTTPError(.contentTooLarge, message: "body exceeds the limit of \(limit) bytes")
        }
        do {
            return try JSONDecoder().decode(type, from: Data(buffer.readableBytesView))
        } catch {
            metrics.increment("dpm_central_rejections_total{reason=\"malformed\"}")
            throw HTTPError(.badRequest, message: RequestValidator.describe(error).description)
        }
    }

    private func refuseInvalid<T>(_ check: () throws(ValidationError) -> T) throws -> T {
        do { return try check() } catch {
            metrics.increment("dpm_central_rejections_total{reason=\"invalid\"}")
            throw HTTPError(.unprocessableContent, message: error.description)
        }
    }

    private func json(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

/// Times every request into the latency histogram, labelled by route pattern and status.
struct LatencyMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: CentralMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        func record(_ status: HTTPResponse.Status) {
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            metrics.observeLatency(route: context.endpointPath ?? "unmatched", status: status.code, seconds: seconds)
        }
        do {
            let response = try await next(request, context)
            record(response.status)
            return response
        } catch {
            record((error as? any HTTPResponseError)?.status ?? .internalServerError)
            throw error
        }
    }
}
