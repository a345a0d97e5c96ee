import Pool

/// Groups tenants by the shape of their day (k-means on z-normalised hourly profiles) and turns the groups into
/// priors for workload classes, so a tenant the service has never seen starts from the shape its class follows.
public enum ShapeClustering {
    /// Upper bound on the number of shapes; fewer when there are few tenants.
    public static let maxClusters = 6
    static let iterations = 25

    public struct Clusters: Sendable, Hashable {
        public var centroids: [[Double]]
        /// For every input shape, the index of its centroid.
        public var assignment: [Int]
    }

    /// Deterministic k-means: farthest-point initialisation from the shape nearest the mean, fixed iterations.
    public static func cluster(_ shapes: [[Double]], maxClusters: Int = maxClusters) -> Clusters {
        guard let dimension = shapes.first?.count else { return Clusters(centroids: [], assignment: []) }
        let k = min(maxClusters, max(1, shapes.count / 3))
        let mean = average(shapes, dimension: dimension)
        var centroids = [shapes.min { distance($0, mean) < distance($1, mean) }!]
        while centroids.count < k {
            let farthest = shapes.max { a, b in
                centroids.map { distance(a, $0) }.min()! < centroids.map { distance(b, $0) }.min()!
            }!
            if centroids.contains(farthest) { break }
            centroids.append(farthest)
        }
        var assignment = [Int](repeating: 0, count: shapes.count)
        for _ in 0..<iterations {
            assignment = shapes.map { shape in centroids.indices.min { distance(shape, centroids[$0]) < distance(shape, centroids[$1]) }! }
            for index in centroids.indices {
                let members = shapes.indices.filter { assignment[$0] == index }.map { shapes[$0] }
                if !members.isEmpty { centroids[index] = average(members, dimension: dimension) }
            }
        }
        return Clusters(centroids: centroids, assignment: assignment)
    }

    /// One prior per key from the tenant models filed under it: the level, residual spread (one step ahead, as
    /// in `SeasonalDecomposition.fit`) and local models' one-step errors (`LocalModelReplay`) are the members' medians; the daily profile is the centroid of the shape most members follow, scaled by their median swing.
    public static func classPriors<Key: Hashable>(
        _ models: [(key: Key, model: TenantModel)], resource: ResourceKind
    ) -> [Key: SeasonalPrior] {
        let shaped = models.indices.filter { models[$0].model.dailyShape != nil }
        let clusters = cluster(shaped.map { models[$0].model.dailyShape! })
        var clusterOf = [Int: Int]()
        for (position, index) in shaped.enumerated() { clusterOf[index] = clusters.assignment[position] }

        var priors = [Key: SeasonalPrior]()
        for (key, indices) in Dictionary(grouping: models.indices, by: { models[$0].key }) {
            let members = indices.map { models[$0].model }
            var profile = [Double]()
            let clustered = indices.compactMap { clusterOf[$0] }
            if let dominant = mostCommon(clustered) {
                let scale = median(indices.filter { clusterOf[$0] == dominant }.map { models[$0].model.dailyScale })
                profile = clusters.centroids[dominant].map { $0 * scale }
            }
            let learnt = members.compactMap(\.localModelErrors)
            priors[key] = SeasonalPrior(
                resource: resource, stepSeconds: 3600, level: median(members.map(\.prior.level)), trend: 0,
                seasonalProfile: profile, profileEpochSeconds: 0,
                residualStandardDeviation: median(members.map(\.prior.residualStandardDeviation)), historySteps: 0,
                localModelErrors: learnt.isEmpty ? nil
                    : LocalModelErrors(fast: median(learnt.map(\.fast)), slow: median(learnt.map(\.slow)))
            )
        }
        return priors
    }

    static func distance(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    }

    static func average(_ vectors: [[Double]], dimension: Int) -> [Double] {
        var sum = [Double](repeating: 0, count: dimension)
        for vector in vectors { for index in 0..<dimension { sum[index] += vector[index] } }
        return sum.map { $0 / Double(vectors.count) }
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// The most frequent value, ties to the smallest (deterministic); nil for none.
    static func mostCommon(_ values: [Int]) -> Int? {
        let counts = Dictionary(values.map { ($0, 1) }, uniquingKeysWith: +)
        return counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key
    }
}
