#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A histogram with exponentially growing buckets whose samples weigh more the newer they are, as in the
/// Kubernetes VPA recommender (`pkg/recommender/util/decaying_histogram.go`, `histogram_options.go`) and the
/// Autopilot moving-window recommenders (EuroSys 2020, §3.2).
///
/// A sample at time t gets weight 2^((t − reference) / halfLife); when that exponent grows large, all weights are
/// rescaled and the reference moves (VPA does the same to avoid overflow), so memory stays fixed.
public struct DecayingHistogram: Sendable, Hashable, Codable {
    /// Size of the first bucket; VPA's CPU histogram uses 0.01 cores (`epsilon`/`firstBucketSize` in
    /// `aggregations_config.go`). Here it is in the series' own unit.
    public let firstBucketSize: Double
    /// Each bucket is this much larger than the previous: VPA's `DefaultHistogramBucketSizeGrowth` = 0.05.
    public let growth: Double
    public let halfLifeSeconds: Double
    public private(set) var weights: [Double]
    public private(set) var totalWeight: Double = 0
    /// Decayed sum of values, for the weighted average.
    public private(set) var weightedSum: Double = 0
    public private(set) var referenceSeconds: Double?

    public init(firstBucketSize: Double, growth: Double, maxValue: Double, halfLifeSeconds: Double) {
        self.firstBucketSize = firstBucketSize
        self.growth = growth
        self.halfLifeSeconds = halfLifeSeconds
        // Bucket i starts at first·((1+g)^i − 1)/g; enough buckets to reach maxValue.
        let count = Int((log(1 + maxValue * growth / firstBucketSize) / log(1 + growth)).rounded(.up)) + 1
        weights = [Double](repeating: 0, count: count)
    }

    public func bucketStart(_ index: Int) -> Double {
        firstBucketSize * (pow(1 + growth, Double(index)) - 1) / growth
    }

    public func bucket(of value: Double) -> Int {
        let index = Int((log(1 + max(value, 0) * growth / firstBucketSize) / log(1 + growth)).rounded(.down))
        return min(max(index, 0), weights.count - 1)
    }

    public var isEmpty: Bool { totalWeight <= 0 }

    public mutating func add(_ value: Double, atSeconds seconds: Double) {
        guard value.isFinite else { return }
        let reference = referenceSeconds ?? seconds
        referenceSeconds = reference
        var exponent = (seconds - reference) / halfLifeSeconds
        if exponent > 50 {
            // Rescale so the newest sample has weight 1 (VPA's `shiftReferenceTimestamp`).
            let factor = pow(2, -exponent)
            for index in weights.indices { weights[index] *= factor }
            totalWeight *= factor
            weightedSum *= factor
            referenceSeconds = seconds
            exponent = 0
        }
        let weight = pow(2, exponent)
        weights[bucket(of: value)] += weight
        totalWeight += weight
        weightedSum += weight * max(value, 0)
    }

    /// The end of the bucket where the cumulative weight first reaches `percentile` of the total (VPA's
    /// `Percentile` returns the start of the next bucket).
    public func percentile(_ percentile: Double) -> Double {
        guard totalWeight > 0 else { return 0 }
        let threshold = percentile * totalWeight
        var cumulative = 0.0
        for index in weights.indices {
            cumulative += weights[index]
            if cumulative >= threshold { return bucketStart(index + 1) }
        }
        return bucketStart(weights.count)
    }

    /// The decayed weighted average of the samples (Autopilot's S_avg).
    public var average: Double { totalWeight > 0 ? weightedSum / totalWeight : 0 }
}
