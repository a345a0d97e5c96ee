/// A set of CPU (or NUMA node) numbers in the kernel's list format (`0-3,8,10-11`).
///
/// Sorted and duplicate-free, so two sets compare equal exactly when the kernel would treat them the same.
public struct CPUSet: Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByArrayLiteral {
    public private(set) var members: [Int]

    public init<S: Sequence>(_ members: S) where S.Element == Int {
        self.members = Array(Set(members)).sorted()
    }

    public init(arrayLiteral elements: Int...) { self.init(elements) }

    /// Parses the kernel's list format; nil when the text is not one. Empty text is the empty set.
    public init?(listFormat text: String) {
        var members: [Int] = []
        for part in text.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == " " }) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard let low = Int(bounds[0]), low >= 0 else { return nil }
            switch bounds.count {
            case 1: members.append(low)
            case 2:
                guard let high = Int(bounds[1]), high >= low else { return nil }
                members.append(contentsOf: low...high)
            default: return nil
            }
        }
        self.init(members)
    }

    public var isEmpty: Bool { members.isEmpty }
    public var count: Int { members.count }
    public func contains(_ cpu: Int) -> Bool { members.contains(cpu) }
    public func union(_ other: CPUSet) -> CPUSet { CPUSet(members + other.members) }
    public func subtracting(_ other: CPUSet) -> CPUSet { CPUSet(members.filter { !other.contains($0) }) }
    public func intersection(_ other: CPUSet) -> CPUSet { CPUSet(members.filter { other.contains($0) }) }

    /// The kernel's list format, ranges folded.
    public var description: String {
        var parts: [String] = []
        var index = 0
        while index < members.count {
            var end = index
            while end + 1 < members.count, members[end + 1] == members[end] + 1 { end += 1 }
            parts.append(end == index ? "\(members[index])" : "\(members[index])-\(members[end])")
            index = end + 1
        }
        return parts.joined(separator: ",")
    }
}
