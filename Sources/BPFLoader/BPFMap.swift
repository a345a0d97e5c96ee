import CLibBPF
import Glibc

/// A map of a loaded object, by file descriptor. Keys and values are plain C layouts (`BitwiseCopyable`), most of
/// them declared in `bpf/dpm_records.h`.
public struct BPFMap: Sendable {
    public let name: String
    public let fileDescriptor: Int32
    public let keySize: Int
    /// Size of one value (per CPU, for per-CPU maps).
    public let valueSize: Int
    /// Entries; the byte size of the data area for a ring buffer.
    public let maxEntries: Int
    public let isPerCPU: Bool

    /// The value for `key`, or nil when the key is absent. Not for per-CPU maps (see `lookupPerCPU`).
    public func lookup<Key: BitwiseCopyable, Value: BitwiseCopyable>(_ key: Key, as _: Value.Type) throws -> Value? {
        precondition(!isPerCPU && MemoryLayout<Value>.size == valueSize, "map \(name): value layout mismatch")
        var value = zeroed(Value.self)
        let found = try withUnsafeMutableBytes(of: &value) { try lookupRaw(key: key, into: $0, absentIsError: false) }
        return found ? value : nil
    }

    /// The value of `key` on every possible CPU, in CPU order.
    public func lookupPerCPU<Key: BitwiseCopyable, Value: BitwiseCopyable>(_ key: Key, as _: Value.Type) throws
        -> [Value]
    {
        precondition(isPerCPU && MemoryLayout<Value>.size == valueSize, "map \(name): value layout mismatch")
        let cpus = Self.possibleCPUs
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: perCPUStride * cpus, alignment: 8)
        defer { bytes.deallocate() }
        try lookupRaw(key: key, into: bytes)
        return (0..<cpus).map { bytes.loadUnaligned(fromByteOffset: $0 * perCPUStride, as: Value.self) }
    }

    /// CPUs the kernel may ever bring online: the entries of a per-CPU map's value, and of a map indexed by CPU.
    public static var possibleCPUs: Int { Int(libbpf_num_possible_cpus()) }

    /// The kernel passes per-CPU values to and from user space 8-byte aligned, one after another.
    private var perCPUStride: Int { (valueSize + 7) & ~7 }

    /// Sets the value of `key` to zero on every CPU.
    public func zeroPerCPU<Key: BitwiseCopyable>(_ key: Key) throws {
        precondition(isPerCPU, "map \(name): not a per-CPU map")
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: perCPUStride * Self.possibleCPUs,
                                                           alignment: 8)
        defer { bytes.deallocate() }
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
        try updateRaw(key: key, value: UnsafeRawBufferPointer(bytes))
    }

    /// Inserts or replaces (`BPF_ANY`) the value of `key`.
    public func update<Key: BitwiseCopyable, Value: BitwiseCopyable>(_ key: Key, _ value: Value) throws {
        precondition(!isPerCPU && MemoryLayout<Value>.size == valueSize, "map \(name): value layout mismatch")
        try withUnsafeBytes(of: value) { try updateRaw(key: key, value: $0) }
    }

    /// Removes `key`; false when it was absent.
    @discardableResult
    public func delete<Key: BitwiseCopyable>(_ key: Key) throws -> Bool {
        precondition(MemoryLayout<Key>.size == keySize, "map \(name): key layout mismatch")
        let result = withUnsafeBytes(of: key) { bpf_map_delete_elem(fileDescriptor, $0.baseAddress) }
        if result == -ENOENT { return false }
        if result < 0 { throw BPFError.mapOperationFailed(map: name, operation: "delete", errno: -result) }
        return true
    }

    @discardableResult
    func lookupRaw<Key: BitwiseCopyable>(key: Key, into value: UnsafeMutableRawBufferPointer,
                                         absentIsError: Bool = true) throws -> Bool {
        precondition(MemoryLayout<Key>.size == keySize, "map \(name): key layout mismatch")
        let result = withUnsafeBytes(of: key) { bpf_map_lookup_elem(fileDescriptor, $0.baseAddress, value.baseAddress) }
        if result == -ENOENT && !absentIsError { return false }
        if result < 0 { throw BPFError.mapOperationFailed(map: name, operation: "lookup", errno: -result) }
        return true
    }

    func updateRaw<Key: BitwiseCopyable>(key: Key, value: UnsafeRawBufferPointer) throws {
        precondition(MemoryLayout<Key>.size == keySize, "map \(name): key layout mismatch")
        let result = withUnsafeBytes(of: key) {
            bpf_map_update_elem(fileDescriptor, $0.baseAddress, value.baseAddress, UInt64(BPF_ANY))
        }
        if result < 0 { throw BPFError.mapOperationFailed(map: name, operation: "update", errno: -result) }
    }
}

/// Zeroed storage for a C value that a syscall fills in.
private func zeroed<Value: BitwiseCopyable>(_: Value.Type) -> Value {
    withUnsafeTemporaryAllocation(of: Value.self, capacity: 1) { buffer in
        UnsafeMutableRawBufferPointer(buffer).initializeMemory(as: UInt8.self, repeating: 0)
        return buffer[0]
    }
}
