import CEnforce
#if canImport(Glibc)
import Glibc
#endif
import Pool

/// The seam between Enforce and the kernel: control files, thread affinity, page migration.
///
/// Every read and write of a cgroup or sysfs file, and every affinity or migration call, goes through this protocol, so unit tests can play the kernel
/// (swift-system's mocking idea) while kernel tests use `LinuxKernel`, the real syscalls. Implementations
/// return the errno instead of throwing, so the typed errors are built in one place (`ControlFiles`).
public protocol KernelCalls: AnyObject, Sendable {
    /// Opens a file for writing; returns a descriptor or `-errno`.
    func openForWriting(_ path: String) -> Int32
    /// Writes the whole value at offset 0 (one `write` is one control-file update); returns 0 or an errno.
    func write(descriptor: Int32, value: String) -> Int32
    func close(descriptor: Int32)
    /// Opens a file for reading; returns a descriptor or `-errno`.
    func openForReading(_ path: String) -> Int32
    /// Reads a whole (small) file from offset 0 through an open descriptor; `.failure(errno)` when it cannot.
    func read(descriptor: Int32) -> Result<String, ErrnoCode>
    /// Creates a directory; returns 0, or an errno (`EEXIST` when it exists).
    func makeDirectory(_ path: String) -> Int32
    /// Removes an empty directory; returns 0 or an errno.
    func removeDirectory(_ path: String) -> Int32
    /// Sets one thread's CPU affinity (`sched_setaffinity` by thread id); returns 0 or an errno.
    func setThreadAffinity(threadID: Int32, cpus: CPUSet) -> Int32
    /// Reads one thread's CPU affinity (`sched_getaffinity` by thread id).
    func threadAffinity(threadID: Int32) -> Result<CPUSet, ErrnoCode>
    /// Moves a process's pages from some NUMA nodes to others (`numa_migrate_pages`); returns 0 or an errno.
    func migratePages(processID: Int32, fromNodes: CPUSet, toNodes: CPUSet) -> Int32
}

extension KernelCalls {
    /// Reads a whole (small) file once: open, read, close.
    public func read(_ path: String) -> Result<String, ErrnoCode> {
        let descriptor = openForReading(path)
        guard descriptor >= 0 else { return .failure(ErrnoCode(-descriptor)) }
        defer { close(descriptor: descriptor) }
        return read(descriptor: descriptor)
    }
}

/// An errno value as an error, with its text.
public struct ErrnoCode: Error, Equatable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }
    public var description: String { "\(String(cString: strerror(rawValue))) (errno \(rawValue))" }
}

/// The real kernel: `open`, `pwrite`, `read`, retried on `EINTR`.
public final class LinuxKernel: KernelCalls {
    public init() {}

    public func openForWriting(_ path: String) -> Int32 {
        while true {
            let fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
            if fd >= 0 { return fd }
            if errno != EINTR { return -errno }
        }
    }

    public func write(descriptor: Int32, value: String) -> Int32 {
        var value = value
        return value.withUTF8 { bytes in
            while true {
                let written = pwrite(descriptor, bytes.baseAddress, bytes.count, 0)
                if written >= 0 { return written == bytes.count ? 0 : EIO }
                if errno != EINTR { return errno }
            }
        }
    }

    public func close(descriptor: Int32) { _ = Glibc.close(descriptor) }

    public func openForReading(_ path: String) -> Int32 {
        while true {
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            if fd >= 0 { return fd }
            if errno != EINTR { return -errno }
        }
    }

    public func read(descriptor: Int32) -> Result<String, ErrnoCode> {
        // Control files are small: 1 KiB almost always holds them, and a buffer that small is on the stack (a
        // larger temporary allocation goes to the heap).
        var result = ""
        var offset = 0
        while true {
            let chunk: Result<String?, ErrnoCode> = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer in
                while true {
                    let count = pread(descriptor, buffer.baseAddress, buffer.count, off_t(offset))
                    if count > 0 {
                        offset += count
                        return .success(String(decoding: UnsafeBufferPointer(rebasing: buffer[0..<count]), as: UTF8.self))
                    }
                    if count == 0 { return .success(nil) }
                    if errno != EINTR { return .failure(ErrnoCode(errno)) }
                }
            }
            switch chunk {
            case let .success(text?): result += text
            case .success(nil): return .success(result)
            case let .failure(code): return .failure(code)
            }
        }
    }

    public func makeDirectory(_ path: String) -> Int32 { mkdir(path, 0o755) == 0 ? 0 : errno }

    public func removeDirectory(_ path: String) -> Int32 { rmdir(path) == 0 ? 0 : errno }

    public func setThreadAffinity(threadID: Int32, cpus: CPUSet) -> Int32 {
        let members = cpus.members.map(Int32.init)
        let result = members.withUnsafeBufferPointer { dpm_set_thread_affinity(threadID, $0.baseAddress, Int32($0.count)) }
        return result == 0 ? 0 : (errno == 0 ? EINVAL : errno)
    }

    public func threadAffinity(threadID: Int32) -> Result<CPUSet, ErrnoCode> {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 1024) { buffer in
            let count = dpm_get_thread_affinity(threadID, buffer.baseAddress, Int32(buffer.count))
            guard count >= 0 else { return .failure(ErrnoCode(errno)) }
            return .success(CPUSet(buffer.prefix(Int(count)).map(Int.init)))
        }
    }

    public func migratePages(processID: Int32, fromNodes: CPUSet, toNodes: CPUSet) -> Int32 {
        guard numa_available() >= 0 else { return ENOSYS }
        let possible = Int(numa_num_possible_nodes())
        if (fromNodes.members + toNodes.members).contains(where: { $0 >= possible }) { return EINVAL }
        let from = fromNodes.members.map(Int32.init), to = toNodes.members.map(Int32.init)
        let result = from.withUnsafeBufferPointer { fromBuffer in
            to.withUnsafeBufferPointer { toBuffer in
                dpm_migrate_pages(processID, fromBuffer.baseAddress, Int32(fromBuffer.count), toBuffer.baseAddress, Int32(toBuffer.count))
            }
        }
        return result >= 0 ? 0 : (errno == 0 ? EIO : errno)
    }
}
