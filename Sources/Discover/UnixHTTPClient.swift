import Dispatch
import Foundation

/// A small HTTP/1.1 client over a unix socket: what the Docker Engine API needs and nothing more.
///
/// One connection per request (`Connection: close`), bodies by `Content-Length`, chunked transfer encoding or end of
/// stream. `follow` keeps a chunked response open and hands over each newline-terminated line as it arrives (the
/// `/events` stream). All socket work runs on threads of its own, never on Swift's cooperative pool.
struct UnixHTTPClient: Sendable {
    let socketPath: String
    /// Bounds every read and write of a request (not of a followed stream).
    let timeoutSeconds: Int

    /// `GET path`; the body of a 2xx answer, otherwise `.http` with the status and the engine's message.
    func get(_ path: String) async throws(DiscoveryError) -> [UInt8] {
        let socketPath = socketPath, timeoutSeconds = timeoutSeconds
        let result: Result<[UInt8], DiscoveryError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { () throws(DiscoveryError) -> [UInt8] in
                    let socket = try UnixSocket(connectingTo: socketPath, timeoutSeconds: timeoutSeconds)
                    let reader = try Self.send(path, on: socket)
                    let body = try reader.readBody()
                    guard (200..<300).contains(reader.status) else {
                        throw .http(endpoint: socketPath, path: path, status: reader.status, body: String(decoding: body, as: UTF8.self))
                    }
                    return body
                })
            }
        }
        return try result.get()
    }

    /// `GET path` kept open: `onLine` gets each line of the body as it arrives, on a thread of its own, until the
    /// peer closes, `stop()` of the returned handle is called, or an error (passed to `onEnd`, nil on a clean end).
    func follow(
        _ path: String,
        onLine: @escaping @Sendable ([UInt8]) -> Void,
        onEnd: @escaping @Sendable (DiscoveryError?) -> Void
    ) -> FollowHandle {
        let handle = FollowHandle()
        let socketPath = socketPath
        let thread = Thread {
            do throws(DiscoveryError) {
                let socket = try UnixSocket(connectingTo: socketPath, timeoutSeconds: 0)
                guard handle.attach(socket) else { return onEnd(nil) }
                let reader = try Self.send(path, on: socket)
                guard (200..<300).contains(reader.status) else {
                    let body = (try? reader.readBody()) ?? []
                    throw .http(endpoint: socketPath, path: path, status: reader.status, body: String(decoding: body, as: UTF8.self))
                }
                var pending: [UInt8] = []
                while let piece = try reader.readBodyPiece() {
                    pending.append(contentsOf: piece)
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = Array(pending[..<newline])
                        pending.removeSubrange(...newline)
                        if !line.isEmpty { onLine(line) }
                    }
                }
                onEnd(handle.isStopped ? nil : .malformedResponse(endpoint: socketPath, path: path, reason: "the stream ended"))
            } catch {
                onEnd(handle.isStopped ? nil : error)
            }
        }
        thread.name = "dpm-discover-follow"
        thread.start()
        return handle
    }

    /// Stops a followed stream from any thread.
    final class FollowHandle: @unchecked Sendable {
        private let lock = NSLock()
        private var socket: UnixSocket?
        private var stopped = false

        var isStopped: Bool { lock.withLock { stopped } }

        /// Records the open socket; false when `stop()` came first.
        fileprivate func attach(_ socket: UnixSocket) -> Bool {
            lock.withLock {
                if stopped { return false }
                self.socket = socket
                return true
            }
        }

        func stop() {
            let socket: UnixSocket? = lock.withLock {
                stopped = true
                defer { self.socket = nil }
                return self.socket
            }
            socket?.shutdownBoth()
        }
    }

    private static func send(_ path: String, on socket: UnixSocket) throws(DiscoveryError) -> ResponseReader {
        try socket.write("GET \(path) HTTP/1.1\r\nHost: docker\r\nUser-Agent: dpm\r\nAccept: application/json\r\nConnection: close\r\n\r\n")
        return try ResponseReader(socket: socket, path: path)
    }
}

/// Reads one HTTP/1.1 response: status line and headers at once, the body whole or piece by piece.
private final class ResponseReader {
    let socket: UnixSocket
    let path: String
    let status: Int
    private let chunked: Bool
    private var remainingLength: Int?
    private var finished = false

    init(socket: UnixSocket, path: String) throws(DiscoveryError) {
        self.socket = socket
        self.path = path
        guard let statusLine = try socket.readLine() else {
            throw .malformedResponse(endpoint: socket.path, path: path, reason: "connection closed before a status line")
        }
        let parts = String(decoding: statusLine, as: UTF8.self).split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw .malformedResponse(endpoint: socket.path, path: path, reason: "bad status line \(String(decoding: statusLine, as: UTF8.self).prefix(80))")
        }
        self.status = status
        var chunked = false
        var length: Int?
        while let line = try socket.readLine(), !line.isEmpty {
            let header = String(decoding: line, as: UTF8.self)
            guard let colon = header.firstIndex(of: ":") else { continue }
            let name = header[..<colon].lowercased()
            let value = header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "transfer-encoding" && value.lowercased().contains("chunked") { chunked = true }
            if name == "content-length" { length = Int(value) }
        }
        self.chunked = chunked
        self.remainingLength = chunked ? nil : length
    }

    func readBody() throws(DiscoveryError) -> [UInt8] {
        var body: [UInt8] = []
        while let piece = try readBodyPiece() { body.append(contentsOf: piece) }
        return body
    }

    /// The next piece of the body as it arrives (one chunk when chunked); nil at its end.
    func readBodyPiece() throws(DiscoveryError) -> [UInt8]? {
        if finished { return nil }
        if chunked {
            guard let sizeLine = try socket.readLine() else { throw truncated("inside a chunk header") }
            let sizeText = String(decoding: sizeLine, as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                throw .malformedResponse(endpoint: socket.path, path: path, reason: "bad chunk size \(sizeText.prefix(20))")
            }
            if size == 0 {
                while let trailer = try socket.readLine(), !trailer.isEmpty {}
                finished = true
                return nil
            }
            let data = try socket.read(count: size)
            guard data.count == size, try socket.readLine() != nil else { throw truncated("inside a chunk") }
            return data
        }
        if let remaining = remainingLength {
            finished = true
            let data = try socket.read(count: remaining)
            guard data.count == remaining else { throw truncated("before Content-Length bytes") }
            return data
        }
        finished = true
        return try socket.readToEnd()
    }

    private func truncated(_ where_: String) -> DiscoveryError {
        .malformedResponse(endpoint: socket.path, path: path, reason: "connection closed \(where_)")
    }
}
