/// What a tenant is forecast to need of one resource over the next horizon.
public struct Forecast: Sendable, Hashable, Codable {
    /// The expected amount (point forecast).
    public var expected: Double
    /// The amount at the quantile the tenant's class asks for: expected plus headroom for forecast error.
    public var atQuantile: Double
    /// How much to trust the forecast, from 0 (no idea) to 1 (its recent errors were tiny).
    public var confidence: Double

    public init(expected: Double, atQuantile: Double, confidence: Double) {
        self.expected = expected
        self.atQuantile = atQuantile
        self.confidence = confidence
    }

    public static let zero = Forecast(expected: 0, atQuantile: 0, confidence: 0)
}

/// A tenant's forecast demand for every resource, plus the measured signal of contention.
public struct TenantDemand: Sendable, Hashable, Codable {
    public var cpuCores: Forecast
    public var memoryBytes: Forecast
    public var networkBitsPerSecond: Forecast
    /// Run-queue wait p99 measured over the last window, in nanoseconds (nil when not measured).
    public var measuredRunQueueWaitP99Nanoseconds: Double?

    public init(
        cpuCores: Forecast = .zero,
        memoryBytes: Forecast = .zero,
        networkBitsPerSecond: Forecast = .zero,
        measuredRunQueueWaitP99Nanoseconds: Double? = nil
    ) {
        self.cpuCores = cpuCores
        self.memoryBytes = memoryBytes
        self.networkBitsPerSecond = networkBitsPerSecond
        self.measuredRunQueueWaitP99Nanoseconds = measuredRunQueueWaitP99Nanoseconds
    }

    public subscript(kind: ResourceKind) -> Forecast {
        get {
            switch kind {
            case .cpu: cpuCores
            case .memory: memoryBytes
            case .network: networkBitsPerSecond
            }
        }
        set {
            switch kind {
            case .cpu: cpuCores = newValue
            case .memory: memoryBytes = newValue
            case .network: networkBitsPerSecond = newValue
            }
        }
    }
}
