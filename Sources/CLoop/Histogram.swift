import Atomics

/// A log-linear histogram of nanosecond durations in preallocated memory: recording is O(1), allocation-free and
/// lock-free, and other threads may read it while the tick thread records.
///
/// Values fall into power-of-two ranges split into `subBuckets` linear steps, so a quantile is known to within
/// 1/`subBuckets` (12.5%) of its value. One writer only (the tick thread): a record is a relaxed load and store, no
/// locked instruction.
public final class LatencyHistogram: @unchecked Sendable {
    static let subBucketBits = 3
    static let subBuckets = 1 << subBucketBits
    /// Enough ranges for any UInt64 value.
    static let bucketCount = (64 - subBucketBits + 1) * subBuckets

    private let counts: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    private let total: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>

    public init() {
        counts = .allocate(capacity: Self.bucketCount)
        counts.initialize(repeating: .init(0), count: Self.bucketCount)
        total = .allocate(capacity: 2)
        total.initialize(repeating: .init(0), count: 2)
    }

    deinit {
        counts.deallocate()
        total.deallocate()
    }

    /// Adds one value (single writer).
    @inline(__always)
    public func record(_ nanoseconds: UInt64) {
        let bucket = UnsafeAtomic<UInt64>(at: counts + Self.bucketIndex(nanoseconds))
        bucket.store(bucket.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        let count = UnsafeAtomic<UInt64>(at: total)
        count.store(count.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        let sum = UnsafeAtomic<UInt64>(at: total + 1)
        sum.store(sum.load(ordering: .relaxed) &+ nanoseconds, ordering: .relaxed)
    }

    /// Which bucket a value falls in: values below `subBuckets` map to themselves; above, the power-of-two range
    /// and the linear step inside it.
    @inline(__always)
    static func bucketIndex(_ value: UInt64) -> Int {
        if value < UInt64(subBuckets) { return Int(value) }
        let magnitude = 63 - value.leadingZeroBitCount
        let shift = magnitude - subBucketBits
        let step = Int((value >> UInt64(shift)) & UInt64(subBuckets - 1))
        return (shift + 1) * subBuckets + step
    }

    /// The smallest value that falls in a bucket.
    static func lowerBound(ofBucket index: Int) -> UInt64 {
        if index < subBuckets { return UInt64(index) }
        let shift = index / subBuckets - 1
        let step = UInt64(index % subBuckets)
        return (UInt64(subBuckets) + step) << UInt64(shift)
    }

    /// The largest value that falls in a bucket.
    static func upperBound(ofBucket index: Int) -> UInt64 {
        index + 1 < bucketCount ? lowerBound(ofBucket: index + 1) - 1 : UInt64.max
    }

    /// A copy of the counts, taken without stopping the writer (each bucket is read atomically).
    public func snapshot() -> Snapshot {
        var buckets = [UInt64](repeating: 0, count: Self.bucketCount)
        for index in 0..<Self.bucketCount { buckets[index] = UnsafeAtomic<UInt64>(at: counts + index).load(ordering: .relaxed) }
        return Snapshot(
            buckets: buckets,
            count: UnsafeAtomic<UInt64>(at: total).load(ordering: .relaxed),
            sumNanoseconds: UnsafeAtomic<UInt64>(at: total + 1).load(ordering: .relaxed)
        )
    }

    /// Counts at one moment.
    public struct Snapshot: Sendable {
        public var buckets: [UInt64]
        public var count: UInt64
        public var sumNanoseconds: UInt64

        /// The value at quantile `q` (0...1): the upper bound of the bucket holding it; 0 when empty.
        public func quantile(_ q: Double) -> UInt64 {
            let seen = buckets.reduce(0, +)
            guard seen > 0 else { return 0 }
            let rank = UInt64((q * Double(seen)).rounded(.up))
            var running: UInt64 = 0
            for (index, count) in buckets.enumerated() where count > 0 {
                running += count
                if running >= max(rank, 1) { return LatencyHistogram.upperBound(ofBucket: index) }
            }
            return LatencyHistogram.upperBound(ofBucket: buckets.count - 1)
        }

        /// Cumulative counts at the given upper bounds (Prometheus `le` buckets).
        public func cumulative(atOrBelow bounds: [UInt64]) -> [UInt64] {
            bounds.map { bound in
                var total: UInt64 = 0
                for (index, count) in buckets.enumerated() where LatencyHistogram.upperBound(ofBucket: index) <= bound { total += count }
                return total
            }
        }
    }
}
