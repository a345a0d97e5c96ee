import CEnforce
#if canImport(Glibc)
import Glibc
#endif

/// One rtnetlink request being built: a `nlmsghdr`, a fixed header (`tcmsg`, `ifinfomsg`) and attributes.
///
/// Pure bytes, so unit tests compare encodings byte for byte; `NetlinkSocket` sends them. A message kept and
/// rebuilt in place (`reset`, then the builders, then `NetlinkSocket.request(reusing:)`) allocates nothing once its
/// storage has grown to the largest message it holds: the tick's rate changes are built that way.
public struct NetlinkMessage: Sendable, Equatable {
    public private(set) var bytes: [UInt8]

    public init(type: UInt16, flags: UInt16, sequence: UInt32 = 0) {
        bytes = []
        bytes.reserveCapacity(256)
        reset(type: type, flags: flags, sequence: sequence)
    }

    /// Starts the message again as a new request with its header only, keeping the storage.
    public mutating func reset(type: UInt16, flags: UInt16, sequence: UInt32 = 0) {
        bytes.removeAll(keepingCapacity: true)
        append(UInt32(0))  // length, set by `seal`
        append(type)
        // Every request asks for an acknowledgement, so the socket always knows when the kernel is done.
        append(flags | UInt16(NLM_F_REQUEST) | UInt16(NLM_F_ACK))
        append(sequence)
        append(UInt32(0))  // port id: the kernel
    }

    /// Appends the raw bytes of a C struct or integer (host byte order, as netlink wants).
    public mutating func append<T>(_ value: T) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    /// Appends one attribute (`rtattr`: length, type, payload, padding to 4 bytes).
    public mutating func attribute<T>(_ type: Int32, _ value: T) {
        withUnsafeBytes(of: value) { attribute(type, raw: $0) }
    }

    public mutating func attribute(_ type: Int32, bytes payload: [UInt8]) {
        payload.withUnsafeBytes { attribute(type, raw: $0) }
    }

    private mutating func attribute(_ type: Int32, raw payload: UnsafeRawBufferPointer) {
        append(UInt16(4 + payload.count))
        append(UInt16(type))
        bytes.append(contentsOf: payload)
        pad()
    }

    /// A NUL-terminated string attribute.
    public mutating func attribute(_ type: Int32, string: String) {
        append(UInt16(4 + string.utf8.count + 1))
        append(UInt16(type))
        bytes.append(contentsOf: string.utf8)
        bytes.append(0)
        pad()
    }

    /// Runs `body` to add the payload of one attribute: the attributes nested inside it, or raw values.
    public mutating func nested(_ type: Int32, _ body: (inout NetlinkMessage) -> Void) {
        let start = bytes.count
        append(UInt16(0))
        append(UInt16(type))
        body(&self)
        let length = UInt16(bytes.count - start)
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: length, toByteOffset: start, as: UInt16.self) }
    }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    /// Fills in the length and the sequence number, in place.
    mutating func seal(sequence: UInt32) {
        let length = UInt32(bytes.count)
        bytes.withUnsafeMutableBytes { header in
            header.storeBytes(of: length, toByteOffset: 0, as: UInt32.self)
            header.storeBytes(of: sequence, toByteOffset: 8, as: UInt32.self)
        }
    }

    /// The message with its length (and, when given, its sequence number) filled in.
    public func finished(sequence: UInt32? = nil) -> [UInt8] {
        var result = self
        result.seal(sequence: sequence ?? bytes.withUnsafeBytes { $0.load(fromByteOffset: 8, as: UInt32.self) })
        return result.bytes
    }
}

/// A `NETLINK_ROUTE` socket that sends one request and waits for the kernel's acknowledgement.
///
/// The socket belongs to the network namespace it was opened in; `init(namespacePath:)` opens it inside another
/// one (for tests in a namespace they made) and comes back.
public final class NetlinkSocket: @unchecked Sendable {
    // @unchecked: one owner at a time, like `ControlFiles`.
    private let descriptor: Int32
    private var sequence: UInt32 = 1
    private var receiveBuffer = [UInt8](repeating: 0, count: 65536)

    public init(namespacePath: String? = nil) throws(EnforceError) {
        var original: Int32 = -1
        if let namespacePath {
            original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
            let target = open(namespacePath, O_RDONLY | O_CLOEXEC)
            guard original >= 0, target >= 0, dpm_enter_network_namespace(target) == 0 else {
                let code = errno
                if target >= 0 { close(target) }
                if original >= 0 { close(original) }
                throw .netlink(request: "enter network namespace \(namespacePath)", errno: ErrnoCode(code))
            }
            close(target)
        }
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NETLINK_ROUTE)
        let socketErrno = errno
        if original >= 0 {
            _ = dpm_enter_network_namespace(original)
            close(original)
        }
        guard fd >= 0 else { throw .netlink(request: "socket", errno: ErrnoCode(socketErrno)) }
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size)) }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw .netlink(request: "bind", errno: ErrnoCode(code))
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Sends a request that asks for an acknowledgement and waits for it; throws the kernel's error.
    public func request(_ message: NetlinkMessage, name: @autoclosure () -> String) throws(EnforceError) {
        var message = message
        _ = try exchange(&message, name: name(), collect: false)
    }

    /// The same for a message the caller keeps and rebuilds: its header is filled in in place, so a request of a
    /// message whose storage is large enough allocates nothing (the tick's rate changes).
    public func request(reusing message: inout NetlinkMessage, name: @autoclosure () -> String) throws(EnforceError) {
        _ = try exchange(&message, name: name(), collect: false)
    }

    /// Sends a request and returns the payloads of the answers (after each answer's `nlmsghdr`) of a type.
    public func query(_ message: NetlinkMessage, answerType: UInt16, name: @autoclosure () -> String) throws(EnforceError) -> [[UInt8]] {
        var message = message
        return try exchange(&message, name: name(), collect: true).filter { $0.type == answerType }.map(\.payload)
    }

    private func exchange(_ message: inout NetlinkMessage, name: @autoclosure () -> String, collect: Bool) throws(EnforceError) -> [(type: UInt16, payload: [UInt8])] {
        sequence &+= 1
        message.seal(sequence: sequence)
        let sent = message.bytes.withUnsafeBytes { buffer -> Int in
            while true {
                let count = send(descriptor, buffer.baseAddress, buffer.count, 0)
                if count >= 0 || errno != EINTR { return count }
            }
        }
        guard sent == message.bytes.count else { throw .netlink(request: name(), errno: ErrnoCode(errno)) }
        var answers: [(type: UInt16, payload: [UInt8])] = []
        while true {
            let received = receiveBuffer.withUnsafeMutableBytes { buffer -> Int in
                while true {
                    let count = recv(descriptor, buffer.baseAddress, buffer.count, 0)
                    if count >= 0 || errno != EINTR { return count }
                }
            }
            guard received > 0 else { throw .netlink(request: name(), errno: ErrnoCode(received < 0 ? errno : EIO)) }
            var offset = 0
            while offset + 16 <= received {
                let length = Int(load(UInt32.self, at: offset))
                let type = load(UInt16.self, at: offset + 4)
                let answerSequence = load(UInt32.self, at: offset + 8)
                guard length >= 16, offset + length <= received else { break }
                defer { offset += (length + 3) & ~3 }
                guard answerSequence == sequence else { continue }
                if type == UInt16(NLMSG_ERROR) {
                    let code = load(Int32.self, at: offset + 16)
                    if code != 0 { throw .netlink(request: name(), errno: ErrnoCode(-code)) }
                    return answers
                }
                if type == UInt16(NLMSG_DONE) { return answers }
                if collect { answers.append((type, Array(receiveBuffer[offset + 16..<offset + length]))) }
            }
        }
    }

    private func load<T>(_: T.Type, at offset: Int) -> T {
        receiveBuffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    }
}

/// Walks the attributes (`rtattr`) of a netlink payload.
func netlinkAttributes(_ payload: [UInt8], from start: Int) -> [(type: Int32, value: ArraySlice<UInt8>)] {
    var attributes: [(type: Int32, value: ArraySlice<UInt8>)] = []
    var offset = start
    while offset + 4 <= payload.count {
        let length = Int(payload[offset]) | Int(payload[offset + 1]) << 8
        let type = Int32(Int(payload[offset + 2]) | Int(payload[offset + 3]) << 8) & 0x3fff
        guard length >= 4, offset + length <= payload.count else { break }
        attributes.append((type, payload[offset + 4..<offset + length]))
        offset += (length + 3) & ~3
    }
    return attributes
}
