import CLibBPF
import Glibc

/// Reads a `BPF_MAP_TYPE_RINGBUF` map in place on the caller's clock.
///
/// Producers submit with `BPF_RB_NO_WAKEUP`, so nothing here blocks or polls: `drain` hands every waiting record to
/// the caller's closure as a view into the ring's memory, valid only during that call, and returns when the ring
/// is empty. It walks the ring through its own mapping, as libbpf's `ring_buffer__consume` does but without the C
/// callback: the records reach a non-escaping Swift closure directly, so a drain allocates nothing and converts no
/// closure.
public final class RingBufferConsumer {
    public let mapName: String
    /// The consumer page (read-write): the consumer position, which the reader advances.
    private let consumerPage: UnsafeMutableRawPointer
    /// The producer page (read-only), then the data area mapped twice in a row, so a record that wraps around the
    /// end reads as one contiguous span.
    private let producerPages: UnsafeMutableRawPointer
    private let pageSize: Int
    private let dataBytes: Int

    public init(map: BPFMap) throws {
        mapName = map.name
        pageSize = sysconf(Int32(_SC_PAGESIZE))
        dataBytes = map.maxEntries
        guard let consumer = mmap(nil, pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, map.fileDescriptor, 0),
              consumer != MAP_FAILED
        else { throw BPFError.mapOperationFailed(map: map.name, operation: "mmap consumer page", errno: errno) }
        guard let producer = mmap(nil, pageSize + 2 * dataBytes, PROT_READ, MAP_SHARED, map.fileDescriptor,
                                  off_t(pageSize)),
              producer != MAP_FAILED
        else {
            let error = errno
            munmap(consumer, pageSize)
            throw BPFError.mapOperationFailed(map: map.name, operation: "mmap producer pages", errno: error)
        }
        consumerPage = consumer
        producerPages = producer
    }

    deinit {
        munmap(consumerPage, pageSize)
        munmap(producerPages, pageSize + 2 * dataBytes)
    }

    /// Bytes of waiting records a drain prefetches: a millisecond of 64 busy tenants on 2 CPUs is ~2 KB.
    static var prefetchBytes: UInt64 { 16 << 10 }

    /// Hands every record waiting in the ring to `body`, oldest first; returns how many. Stops early at a record the
    /// kernel is still writing (the next drain gets it).
    @discardableResult
    public func drain(_ body: (UnsafeRawBufferPointer) -> Void) -> Int {
        let consumerPosition = consumerPage.assumingMemoryBound(to: UInt64.self)
        let producerPosition = UnsafePointer(producerPages.assumingMemoryBound(to: UInt64.self))
        let data = UnsafeRawPointer(producerPages + pageSize)
        let mask = UInt64(dataBytes - 1)
        let busy = UInt32(BPF_RINGBUF_BUSY_BIT)
        let discarded = UInt32(BPF_RINGBUF_DISCARD_BIT)
        let headerBytes = Int(BPF_RINGBUF_HDR_SZ)
        var position = dpm_load_acquire_u64(consumerPosition)
        var records = 0
        var end = dpm_load_acquire_u64(producerPosition)
        // The records were written on other CPUs: ask for all their lines at once (up to `prefetchBytes`; a longer
        // backlog streams anyway) rather than miss on each as the walk reaches it: a drain of 64 tenants 3-8 % faster
        // (Benchmarks/telemetry/results-2026-11-30.txt, 3b.2).
        dpm_prefetch_lines(data + Int(position & mask), Int(min(end &- position, Self.prefetchBytes)))
        while position < end {
            let header = data + Int(position & mask)
            let length = dpm_load_acquire_u32(header.assumingMemoryBound(to: UInt32.self))
            if length & busy != 0 { break }
            let recordBytes = Int(length & ~(busy | discarded))
            if length & discarded == 0 {
                body(UnsafeRawBufferPointer(start: header + headerBytes, count: recordBytes))
                records += 1
            }
            // Records start 8-byte aligned.
            position += UInt64((headerBytes + recordBytes + 7) & ~7)
            dpm_store_release_u64(consumerPosition, position)
            if position == end { end = dpm_load_acquire_u64(producerPosition) }
        }
        return records
    }
}
