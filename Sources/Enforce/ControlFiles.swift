#if canImport(Glibc)
import Glibc
#endif

/// Control files opened once and written many times, with errors that carry path, value and errno.
///
/// A cgroup file stays open for the agent's life, so a tick's write is one `pwrite`. A descriptor whose cgroup
/// vanished answers `ENODEV`; it is then dropped so a recreated cgroup of the same name is opened afresh.
public final class ControlFiles: @unchecked Sendable {
    // @unchecked: used by one thread at a time (the tick thread, or a command); the cache is not shared.
    public let kernel: any KernelCalls
    private var descriptors: [String: Int32] = [:]
    private var readDescriptors: [String: Int32] = [:]

    public init(kernel: any KernelCalls = LinuxKernel()) {
        self.kernel = kernel
    }

    deinit {
        for descriptor in descriptors.values { kernel.close(descriptor: descriptor) }
        for descriptor in readDescriptors.values { kernel.close(descriptor: descriptor) }
    }

    /// Writes one value to one control file.
    public func write(_ value: String, to path: String) throws(EnforceError) {
        let descriptor: Int32
        if let cached = descriptors[path] {
            descriptor = cached
        } else {
            let opened = kernel.openForWriting(path)
            guard opened >= 0 else {
                if -opened == ENOENT { throw .cgroupMissing(path: path) }
                throw .write(CgroupWriteError(path: path, value: value, errno: ErrnoCode(-opened)))
            }
            descriptors[path] = opened
            descriptor = opened
        }
        let result = kernel.write(descriptor: descriptor, value: value)
        guard result == 0 else {
            if result == ENODEV /* the cgroup was removed under us */ {
                forget(path)
                throw .cgroupMissing(path: path)
            }
            throw .write(CgroupWriteError(path: path, value: value, errno: ErrnoCode(result)))
        }
    }

    /// Reads a control file, trimmed of its trailing newline. The descriptor stays open too (a re-read is one
    /// `pread`; opening a cgroup file costs ten times the read on a busy host).
    public func read(_ path: String) throws(EnforceError) -> String {
        let descriptor: Int32
        if let cached = readDescriptors[path] {
            descriptor = cached
        } else {
            let opened = kernel.openForReading(path)
            guard opened >= 0 else {
                if -opened == ENOENT { throw .cgroupMissing(path: path) }
                throw .read(path: path, errno: ErrnoCode(-opened))
            }
            readDescriptors[path] = opened
            descriptor = opened
        }
        switch kernel.read(descriptor: descriptor) {
        case let .success(text):
            return Self.trimmed(text)
        case let .failure(code):
            forget(path)
            if code.rawValue == ENOENT || code.rawValue == ENODEV { throw .cgroupMissing(path: path) }
            throw .read(path: path, errno: code)
        }
    }

    /// The text without leading blanks and trailing newlines or blanks (a byte scan: no copy when there is none).
    static func trimmed(_ text: String) -> String {
        let bytes = text.utf8
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, bytes[start] == UInt8(ascii: " ") { start = bytes.index(after: start) }
        while start < end {
            let last = bytes.index(before: end)
            guard bytes[last] == UInt8(ascii: "\n") || bytes[last] == UInt8(ascii: " ") else { break }
            end = last
        }
        return start == bytes.startIndex && end == bytes.endIndex ? text : String(text[start..<end])
    }

    /// Closes the descriptor of one file (its cgroup is going away).
    public func forget(_ path: String) {
        if let descriptor = descriptors.removeValue(forKey: path) { kernel.close(descriptor: descriptor) }
        if let descriptor = readDescriptors.removeValue(forKey: path) { kernel.close(descriptor: descriptor) }
    }

    /// Closes the descriptors of every file in `directories` (a retired tenant's cgroups): the ones its settings use
    /// and the ones only checked or read along the way (`cgroup.procs`, `cpu.cfs_period_us`).
    public func forget(filesIn directories: Set<String>) {
        let paths = Set(descriptors.keys).union(readDescriptors.keys)
        for path in paths where directories.contains(String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])) { forget(path) }
    }
}
