import Foundation
import Glibc

/// A server on its own plain thread: accepts connections one at a time and hands each to `serve`. Off the tick
/// thread; it reads only the published snapshot.
final class AcceptThread: @unchecked Sendable {
    private let listener: Int32
    private let name: String
    private let serve: @Sendable (Int32) -> Void
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    init(listener: Int32, name: String, serve: @escaping @Sendable (Int32) -> Void) {
        self.listener = listener
        self.name = name
        self.serve = serve
    }

    func start() {
        let thread = Thread { [listener, serve, done] in
            while let client = Sockets.accept(listener) {
                serve(client)
                Glibc.close(client)
            }
            done.signal()
        }
        thread.name = name
        thread.start()
        self.thread = thread
    }

    /// Shuts the listening socket so `accept` returns, then waits for the thread.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
        if thread != nil { done.wait() }
        thread = nil
    }
}

/// The control API: one JSON request per connection on a unix socket that only root may open (mode 0600) and that
/// refuses any peer whose SO_PEERCRED uid is not 0.
///
/// Requests: `{"command":"status"}`, `{"command":"explain","tenant":"NAME"}`. Replies: the report as JSON, or
/// `{"error":"…"}`.
public struct ControlRequest: Codable, Sendable, Equatable {
    public var command: String
    public var tenant: String?
    public init(command: String, tenant: String? = nil) {
        self.command = command
        self.tenant = tenant
    }
}

/// The listening side of the control API.
public final class ControlServer: @unchecked Sendable {
    private let thread: AcceptThread
    public let socketPath: String

    /// Listens on `socketPath` (mode 0600) and answers peers of `allowedUID` with `handle`.
    public init(socketPath: String, allowedUID: uid_t = 0, handle: @escaping @Sendable (ControlRequest) -> Data) throws(AgentError) {
        self.socketPath = socketPath
        let listener = try Sockets.listenUnix(path: socketPath)
        thread = AcceptThread(listener: listener, name: "dpm-control") { client in
            ControlProtocol.serve(client, allowedUID: allowedUID, handle: handle)
        }
        thread.start()
    }

    /// Stops serving and removes the socket file.
    public func stop() {
        thread.stop()
        unlink(socketPath)
    }
}

struct ControlErrorReply: Codable {
    var error: String
}

enum ControlProtocol {
    /// Answers one connection; `handle` maps a request to a reply document.
    static func serve(_ fd: Int32, allowedUID: uid_t, handle: (ControlRequest) -> Data) {
        guard let uid = Sockets.peerUID(fd), uid == allowedUID else {
            Sockets.writeAll(fd, Array(encodeError("permission denied: the control API serves uid \(allowedUID) only")))
            return
        }
        let line = Sockets.readLine(fd)
        guard let request = try? JSONDecoder().decode(ControlRequest.self, from: Data(line)) else {
            Sockets.writeAll(fd, Array(encodeError("malformed request; expected {\"command\": …}")))
            return
        }
        Sockets.writeAll(fd, Array(handle(request)))
    }

    static func encodeError(_ message: String) -> Data {
        (try? JSONEncoder().encode(ControlErrorReply(error: message))) ?? Data("{\"error\":\"internal\"}".utf8)
    }
}

/// The client side, used by `dpm status`, `dpm explain` and `dpm top`.
public enum ControlClient {
    /// Sends `request` to the agent at `socketPath` and returns the raw JSON reply.
    public static func send(_ request: ControlRequest, socketPath: String) throws(AgentError) -> Data {
        let fd = try Sockets.connectUnix(path: socketPath)
        defer { Glibc.close(fd) }
        guard let body = try? JSONEncoder().encode(request) else { throw .protocolError("cannot encode the request") }
        Sockets.writeAll(fd, Array(body) + [10])
        let reply = Data(Sockets.readAll(fd))
        if let error = try? JSONDecoder().decode(ControlErrorReply.self, from: reply) { throw .protocolError(error.error) }
        guard !reply.isEmpty else { throw .protocolError("the agent closed the connection without a reply") }
        return reply
    }

    public static func status(socketPath: String) throws(AgentError) -> StatusReport {
        let reply = try send(ControlRequest(command: "status"), socketPath: socketPath)
        guard let report = try? JSONDecoder().decode(StatusReport.self, from: reply) else { throw .protocolError("unreadable status reply") }
        return report
    }

    public static func explain(tenant: String, socketPath: String) throws(AgentError) -> ExplainReport {
        let reply = try send(ControlRequest(command: "explain", tenant: tenant), socketPath: socketPath)
        guard let report = try? JSONDecoder().decode(ExplainReport.self, from: reply) else { throw .protocolError("unreadable explain reply") }
        return report
    }
}

/// A minimal HTTP/1.0 responder for `GET /metrics` on 127.0.0.1.
enum MetricsHTTP {
    static func serve(_ fd: Int32, body: () -> String) {
        let request = String(decoding: Sockets.readLine(fd, limit: 8192), as: UTF8.self)
        let ok = request.hasPrefix("GET /metrics") || request.hasPrefix("GET / ")
        let content = ok ? body() : "not found: try /metrics\n"
        let status = ok ? "200 OK" : "404 Not Found"
        let header = "HTTP/1.0 \(status)\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(content.utf8.count)\r\nConnection: close\r\n\r\n"
        Sockets.writeAll(fd, Array(header.utf8) + Array(content.utf8))
    }
}
