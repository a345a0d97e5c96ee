/// The three resources dpm divides among tenants.
///
/// CPU is counted in cores (fractions allowed), memory in bytes, network in bits per second on the tenant's link.
public enum ResourceKind: Int, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case cpu = 0
    case memory = 1
    case network = 2

    public var description: String {
        switch self {
        case .cpu: "cpu"
        case .memory: "memory"
        case .network: "network"
        }
    }

    /// The unit an amount of this resource is expressed in.
    public var unit: String {
        switch self {
        case .cpu: "cores"
        case .memory: "bytes"
        case .network: "bits/s"
        }
    }
}

/// One amount per resource kind: CPU cores, memory bytes, network bits per second.
///
/// A fixed-size value (three doubles, no heap storage), so the tick can build and compare vectors freely.
public struct ResourceVector: Sendable, Hashable, Codable {
    public var cpuCores: Double
    public var memoryBytes: Double
    public var networkBitsPerSecond: Double

    public init(cpuCores: Double = 0, memoryBytes: Double = 0, networkBitsPerSecond: Double = 0) {
        self.cpuCores = cpuCores
        self.memoryBytes = memoryBytes
        self.networkBitsPerSecond = networkBitsPerSecond
    }

    public static let zero = ResourceVector()

    /// No limit on any resource.
    public static let unlimited = ResourceVector(cpuCores: .infinity, memoryBytes: .infinity, networkBitsPerSecond: .infinity)

    public subscript(kind: ResourceKind) -> Double {
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

    /// True when every component is at most the other's.
    public func fits(within other: ResourceVector) -> Bool {
        ResourceKind.allCases.allSatisfy { self[$0] <= other[$0] }
    }

    public static func + (lhs: ResourceVector, rhs: ResourceVector) -> ResourceVector {
        ResourceVector(
            cpuCores: lhs.cpuCores + rhs.cpuCores,
            memoryBytes: lhs.memoryBytes + rhs.memoryBytes,
            networkBitsPerSecond: lhs.networkBitsPerSecond + rhs.networkBitsPerSecond
        )
    }

    public static func - (lhs: ResourceVector, rhs: ResourceVector) -> ResourceVector {
        ResourceVector(
            cpuCores: lhs.cpuCores - rhs.cpuCores,
            memoryBytes: lhs.memoryBytes - rhs.memoryBytes,
            networkBitsPerSecond: lhs.networkBitsPerSecond - rhs.networkBitsPerSecond
        )
    }
}
