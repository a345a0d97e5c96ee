import CLoopSystem
import Glibc

/// The agent's few socket calls in one place: every call retries EINTR and turns errno into `AgentError`.
enum Sockets {
    /// A listening unix stream socket at `path`, mode 0600 (owner: root), replacing a stale socket file.
    static func listenUnix(path: String) throws(AgentError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .socket(path: path, call: "socket", errno: errno) }
        unlink(path)
        var address = try unixAddress(path)
        // Created with no permission for anyone but the owner, so there is no window in which others could connect.
        let previousMask = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(previousMask)
        guard bound == 0 else {
            let error = errno
            Glibc.close(fd)
            throw .socket(path: path, call: "bind", errno: error)
        }
        chmod(path, 0o600)
        guard listen(fd, 16) == 0 else {
            let error = errno
            Glibc.close(fd)
            throw .socket(path: path, call: "listen", errno: error)
        }
        return fd
    }

    static func connectUnix(path: String) throws(AgentError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .socket(path: path, call: "socket", errno: errno) }
        var address = try unixAddress(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let error = errno
            Glibc.close(fd)
            throw .notRunning(socketPath: path, reason: AgentError.text(error))
        }
        return fd
    }

    /// A listening TCP socket on 127.0.0.1:`port`.
    static func listenLoopback(port: UInt16) throws(AgentError) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .socket(path: "127.0.0.1:\(port)", call: "socket", errno: errno) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let error = errno
            Glibc.close(fd)
            throw .socket(path: "127.0.0.1:\(port)", call: "bind/listen", errno: error)
        }
        return fd
    }

    /// Accepts one connection; nil when the listening socket was shut down.
    static func accept(_ fd: Int32) -> Int32? {
        while true {
            let client = Glibc.accept(fd, nil, nil)
            if client >= 0 {
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                return client
            }
            if errno == EINTR || errno == ECONNABORTED { continue }
            return nil
        }
    }

    /// The uid of the process at the other end of a unix socket.
    static func peerUID(_ fd: Int32) -> uid_t? {
        var uid: uid_t = 0
        var pid: pid_t = 0
        return dpm_peer_credentials(fd, &uid, &pid) == 0 ? uid : nil
    }

    /// Reads until a newline, end of stream or `limit` bytes (with a receive timeout so a silent peer cannot hold
    /// the server).
    static func readLine(_ fd: Int32, limit: Int = 65536) -> [UInt8] {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            bytes += chunk[0..<count]
            if let newline = bytes.firstIndex(of: 10) { return Array(bytes[..<newline]) }
        }
        return bytes
    }

    /// Reads until the peer closes.
    static func readAll(_ fd: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return bytes }
            bytes += chunk[0..<count]
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return }
            offset += count
        }
    }

    private static func unixAddress(_ path: String) throws(AgentError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw .socket(path: path, call: "bind", errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }
}
