import Glibc

/// A `BPF_F_MMAPABLE` array map of `Element`s mapped read-only, to read the kernel's stores in place (no syscall,
/// no copy). The kernel lays the elements out back to back from the mapping's start, each `Element`'s size apart
/// (the layouts read this way are multiples of 8 bytes).
final class MappedArray<Element: BitwiseCopyable> {
    let count: Int
    let elements: UnsafePointer<Element>
    private let mappedBytes: Int

    init(_ map: BPFMap) throws {
        precondition(map.valueSize == MemoryLayout<Element>.size && MemoryLayout<Element>.stride == map.valueSize,
                     "map \(map.name): value layout mismatch")
        let pageSize = sysconf(Int32(_SC_PAGESIZE))
        count = map.maxEntries
        mappedBytes = (count * MemoryLayout<Element>.stride + pageSize - 1) / pageSize * pageSize
        guard let mapped = mmap(nil, mappedBytes, PROT_READ, MAP_SHARED, map.fileDescriptor, 0), mapped != MAP_FAILED
        else { throw BPFError.mapOperationFailed(map: map.name, operation: "mmap", errno: errno) }
        elements = UnsafeRawPointer(mapped).assumingMemoryBound(to: Element.self)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: elements), mappedBytes)
    }
}
