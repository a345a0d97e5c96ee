/// Why Solve refused an input, with what a person needs to fix it.
public enum SolveError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A linear program whose arrays or numbers make no sense.
    case invalidProgram(reason: String)
    /// An MPS file that could not be read: the 1-based line number, the line itself and what is wrong with it.
    case mps(line: Int, text: String, reason: String)
    /// An allocation input that makes no sense (NaN or negative capacity, min above max, unknown tenant).
    case invalidInput(field: String, reason: String)
    /// The guarantees cannot all be honoured: for each resource that is short, who asks for how much.
    case guaranteesClash([GuaranteeClash])

    public var description: String {
        switch self {
        case let .invalidProgram(reason):
            "invalid linear program: \(reason)"
        case let .mps(line, text, reason):
            "MPS line \(line): \(reason): \"\(text)\""
        case let .invalidInput(field, reason):
            "\(field): \(reason)"
        case let .guaranteesClash(clashes):
            "guarantees exceed capacity: " + clashes.map(\.description).joined(separator: "; ")
        }
    }
}

/// One resource whose guarantees together exceed what the host can give.
public struct GuaranteeClash: Equatable, Sendable, CustomStringConvertible {
    /// The resource (`cpu`, `memory`, `network`) or the place (`exclusive cores`, `link eth0`) that is short.
    public var resource: String
    /// What the host can give of it.
    public var capacity: Double
    /// Each tenant's guarantee on it, largest first.
    public var guarantees: [(tenant: String, amount: Double)]

    public init(resource: String, capacity: Double, guarantees: [(tenant: String, amount: Double)]) {
        self.resource = resource
        self.capacity = capacity
        self.guarantees = guarantees
    }

    public var total: Double { guarantees.reduce(0) { $0 + $1.amount } }

    public var description: String {
        let list = guarantees.map { "\($0.tenant) \(format($0.amount))" }.joined(separator: " + ")
        return "\(resource): \(list) = \(format(total)) > capacity \(format(capacity))"
    }

    public static func == (lhs: GuaranteeClash, rhs: GuaranteeClash) -> Bool {
        lhs.resource == rhs.resource && lhs.capacity == rhs.capacity
            && lhs.guarantees.map(\.tenant) == rhs.guarantees.map(\.tenant)
            && lhs.guarantees.map(\.amount) == rhs.guarantees.map(\.amount)
    }
}

/// A number in the shortest form that still shows it exactly enough for a person (`4`, `0.25`, `1.5e+09`).
func format(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return String(value)
}
