import CLibBPF
import Glibc

/// Reads a `BPF_MAP_TYPE_RINGBUF` map in place on the caller's clock.
///
/// Producers submit with `BPF_RB_NO_WAKEUP`, so nothing here blocks or polls: `drain` hands every waiting record to
/// the caller's closure as a view into the ring's memory, valid only during that call, and returns when the ring
/// is empty. No heap allocation per record or per drain.
public final class RingBufferConsumer {
    public typealias RecordHandler = (UnsafeRawBufferPointer) -> Void

    private let handle: OpaquePointer
    public let mapName: String
    /// Holds the closure of the drain in progress; libbpf's callback context points here.
    private let currentHandler: UnsafeMutablePointer<RecordHandler?>

    public init(map: BPFMap) throws {
        mapName = map.name
        currentHandler = .allocate(capacity: 1)
        currentHandler.initialize(to: nil)
        // The trampoline casts its context back to the handler cell: the only unsafe step of a drain.
        let ring = ring_buffer__new(map.fileDescriptor, { context, data, size in
            guard let context, let data else { return 0 }
            let handler = context.assumingMemoryBound(to: RecordHandler?.self)
            handler.pointee?(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }, currentHandler, nil)
        guard let ring else {
            currentHandler.deinitialize(count: 1)
            currentHandler.deallocate()
            throw BPFError.mapOperationFailed(map: map.name, operation: "ring_buffer__new", errno: errno)
        }
        handle = ring
    }

    deinit {
        ring_buffer__free(handle)
        currentHandler.deinitialize(count: 1)
        currentHandler.deallocate()
    }

    /// Hands every record waiting in the ring to `body`, oldest first; returns how many.
    @discardableResult
    public func drain(_ body: RecordHandler) throws -> Int {
        let consumed = withoutActuallyEscaping(body) { handler in
            currentHandler.pointee = handler
            defer { currentHandler.pointee = nil }
            return ring_buffer__consume(handle)
        }
        if consumed < 0 {
            throw BPFError.mapOperationFailed(map: mapName, operation: "ring_buffer__consume", errno: -consumed)
        }
        return Int(consumed)
    }
}
