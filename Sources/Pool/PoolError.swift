/// Why a pool value was refused, with what a person needs to fix it.
public enum PoolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A field holds a value that makes no sense.
    case invalid(field: String, reason: String)
    /// Tenants were given more of a resource than the host has.
    case overCapacity(kind: ResourceKind, allocated: Double, capacity: Double)
    /// A tenant was given less than its guarantee.
    case guaranteeBroken(tenant: String, kind: ResourceKind, allocated: Double, guaranteed: Double)

    public var description: String {
        switch self {
        case let .invalid(field, reason):
            "\(field): \(reason)"
        case let .overCapacity(kind, allocated, capacity):
            "\(kind): \(allocated) \(kind.unit) allocated exceeds the capacity of \(capacity)"
        case let .guaranteeBroken(tenant, kind, allocated, guaranteed):
            "\(tenant): \(kind) allocation \(allocated) \(kind.unit) is below its guarantee of \(guaranteed)"
        }
    }
}
