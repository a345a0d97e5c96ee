#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one place where Discover talks to libc: files, directories, unix sockets. Every call retries `EINTR` and turns
/// errno into a `DiscoveryError` that names the path and the operation.
enum System {
    /// Reads a whole file, procfs and cgroupfs included (their sizes read as 0, so read until end of file).
    static func readFile(_ path: String) throws(DiscoveryError) -> [UInt8] {
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        if fd < 0 { throw .file(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in retryingEINTR { read(fd, buffer.baseAddress, buffer.count) } }
            if count < 0 { throw .file(path: path, operation: "read", errno: errno) }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    static func readText(_ path: String) throws(DiscoveryError) -> String {
        String(decoding: try readFile(path), as: UTF8.self)
    }

    /// The names in a directory, without `.` and `..`.
    static func listDirectory(_ path: String) throws(DiscoveryError) -> [String] {
        guard let directory = opendir(path) else { throw .file(path: path, operation: "opendir", errno: errno) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The inode number of a path; for a cgroup v2 directory it is the cgroup id the kernel and BPF use.
    static func inode(_ path: String) throws(DiscoveryError) -> UInt64 {
        var info = stat()
        if retryingEINTR({ stat(path, &info) }) != 0 { throw .file(path: path, operation: "stat", errno: errno) }
        return UInt64(info.st_ino)
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Matches a path against a shell glob (`*`, `?`, `[…]`; `*` does not cross `/`).
    static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, GLOB_ONLYDIR, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { index in result.gl_pathv[index].map { String(cString: $0) } }
    }

    static func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
        while true {
            let value = call()
            if value < 0 && errno == EINTR { continue }
            return value
        }
    }
}

/// A connected stream socket (unix domain), closed when the value goes away.
///
/// Blocking by design: Discover runs it on its own threads (see `Blocking`), never on the tick thread and never on
/// Swift's cooperative pool for longer than a request with a timeout.
final class UnixSocket: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var bufferStart = 0

    /// Connects to `path`; `timeoutSeconds` bounds every later read and write (0 = block forever, for event streams).
    init(connectingTo path: String, timeoutSeconds: Int) throws(DiscoveryError) {
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw .socket(path: path, operation: "socket", errno: errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else {
            close(fd)
            throw .socket(path: path, operation: "connect (path longer than \(capacity - 1) bytes)", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                System.retryingEINTR { connect(fd, generic, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        }
        if connected != 0 {
            let code = errno
            close(fd)
            throw .socket(path: path, operation: "connect", errno: code)
        }
        if timeoutSeconds > 0 {
            var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// The socket's descriptor, to wait on with `poll` (reads still go through this type and its buffer).
    var descriptor: Int32 { fd }

    /// The process at the other end (`SO_PEERCRED`): for a QMP socket, the QEMU process itself.
    func peerProcessID() throws(DiscoveryError) -> Int32 {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (Glibc hides it behind _GNU_SOURCE).
        var credentials: (pid: Int32, uid: UInt32, gid: UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        if getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0 {
            throw .socket(path: path, operation: "getsockopt(SO_PEERCRED)", errno: errno)
        }
        return credentials.pid
    }

    func write(_ text: String) throws(DiscoveryError) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeMutableBytes { raw in
                System.retryingEINTR { send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL)) }
            }
            if sent < 0 { throw .socket(path: path, operation: "send", errno: errno) }
            offset += sent
        }
        bytes.removeAll()
    }

    /// Unblocks a reader on another thread: its read returns end of stream.
    func shutdownBoth() { shutdown(fd, Int32(SHUT_RDWR)) }

    /// Reads up to and including `\n`; returns the line without `\r\n`, or nil at end of stream.
    func readLine() throws(DiscoveryError) -> [UInt8]? {
        var scanned = 0  // bytes after bufferStart known to hold no newline; fill() may move bufferStart to 0
        while true {
            if let newline = buffer[(bufferStart + scanned)...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > bufferStart && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = Array(buffer[bufferStart..<end])
                bufferStart = newline + 1
                return line
            }
            scanned = buffer.count - bufferStart
            if try !fill() {
                if bufferStart == buffer.count { return nil }
                let line = Array(buffer[bufferStart...])
                bufferStart = buffer.count
                return line
            }
        }
    }

    /// Reads exactly `count` bytes, or fewer at end of stream.
    func read(count: Int) throws(DiscoveryError) -> [UInt8] {
        while buffer.count - bufferStart < count {
            if try !fill() { break }
        }
        let end = min(buffer.count, bufferStart + count)
        let bytes = Array(buffer[bufferStart..<end])
        bufferStart = end
        return bytes
    }

    /// Reads until the peer closes.
    func readToEnd() throws(DiscoveryError) -> [UInt8] {
        while try fill() {}
        let bytes = Array(buffer[bufferStart...])
        bufferStart = buffer.count
        return bytes
    }

    /// Appends what the socket has to the buffer; false at end of stream.
    private func fill() throws(DiscoveryError) -> Bool {
        if bufferStart > 0 && bufferStart == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            bufferStart = 0
        }
        var chunk = [UInt8](repeating: 0, count: 16384)
        let count = chunk.withUnsafeMutableBytes { raw in System.retryingEINTR { recv(fd, raw.baseAddress, raw.count, 0) } }
        if count < 0 {
            let code = errno
            throw .socket(path: path, operation: code == EAGAIN ? "recv (timed out)" : "recv", errno: code)
        }
        if count == 0 { return false }
        buffer.append(contentsOf: chunk[0..<count])
        return true
    }
}

/// Directories whose entries the kernel reports changes in (inotify), plus any other descriptors a follower waits on,
/// with a way for another thread to stop the wait: what event-driven sources block on instead of sleeping.
///
/// A created or removed cgroup shows as `IN_CREATE` / `IN_DELETE` of a directory entry in its parent; a state file
/// written in place or renamed into place as `IN_CLOSE_WRITE` / `IN_MOVED_TO` of its name.
final class KernelWatch: @unchecked Sendable {
    /// Which entries of a watched directory count.
    enum Entries: Sendable, Hashable {
        /// Child directories (cgroups) created, removed or renamed; files written there (cgroup knobs) do not count.
        case directories
        /// Entries of these names, whatever happens to them.
        case named(Set<String>)
    }

    /// What ended a wait.
    enum Wake: Equatable {
        /// A watched directory changed, or one of the extra descriptors is readable (listed).
        case changed(readable: [Int32])
        case timedOut
        case stopped
    }

    private let inotify: Int32
    /// A pipe whose read end becomes readable when `stop()` writes to it.
    private let stopRead: Int32, stopWrite: Int32
    private var watched: [Int32: Entries] = [:]

    init() throws(DiscoveryError) {
        inotify = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        if inotify < 0 { throw .file(path: "inotify", operation: "inotify_init1", errno: errno) }
        var ends: [Int32] = [-1, -1]
        if pipe(&ends) != 0 {
            let code = errno
            close(inotify)
            throw .file(path: "pipe", operation: "pipe", errno: code)
        }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        stopRead = ends[0]
        stopWrite = ends[1]
    }

    deinit {
        close(inotify)
        close(stopRead)
        close(stopWrite)
    }

    /// Watches `directory` (again: a no-op); false when it does not exist (yet).
    @discardableResult
    func add(_ directory: String, entries: Entries) -> Bool {
        let mask = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR)
        let descriptor = inotify_add_watch(inotify, directory, mask)
        guard descriptor >= 0 else { return false }
        watched[descriptor] = entries
        return true
    }

    /// Blocks until a watched directory changes as its `Entries` say, one of `descriptors` is readable, `timeoutSeconds`
    /// pass, or `stop()` is called (from any thread).
    func wait(timeoutSeconds: Double, alsoReadable descriptors: [Int32] = []) -> Wake {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Double(deadline.tv_sec) + Double(deadline.tv_nsec) / 1e9 + timeoutSeconds
        while true {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let remaining = end - (Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
            if remaining <= 0 { return .timedOut }
            var fds = ([stopRead, inotify] + descriptors).map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), Int32(min(remaining * 1000, 3_600_000).rounded(.up)))
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { return ready == 0 ? .timedOut : .stopped }
            if fds[0].revents != 0 { return .stopped }
            let readable = fds.dropFirst(2).filter { $0.revents != 0 }.map(\.fd)
            let changed = fds[1].revents != 0 && drainEvents()
            if changed || !readable.isEmpty { return .changed(readable: readable) }
        }
    }

    /// Ends the current and every later `wait` with `.stopped`.
    func stop() {
        var byte: UInt8 = 1
        _ = write(stopWrite, &byte, 1)
    }

    /// Reads every queued event; true when one counts.
    private func drainEvents() -> Bool {
        var counts = false
        let bufferSize = 16 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: MemoryLayout<inotify_event>.alignment)
        defer { buffer.deallocate() }
        while true {
            let length = read(inotify, buffer, bufferSize)
            if length <= 0 { return counts }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= length {
                let event = buffer.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                let nameStart = buffer + offset + MemoryLayout<inotify_event>.size
                let name = event.len > 0 ? String(cString: nameStart.assumingMemoryBound(to: CChar.self)) : ""
                if event.mask & UInt32(IN_IGNORED) != 0 {
                    watched[event.wd] = nil  // the directory is gone; `add` watches it again when it comes back
                } else {
                    switch watched[event.wd] {
                    case .directories?: counts = counts || event.mask & UInt32(IN_ISDIR) != 0
                    case let .named(names)?: counts = counts || names.contains(name)
                    case nil: break
                    }
                }
                offset += MemoryLayout<inotify_event>.size + Int(event.len)
            }
        }
    }
}
