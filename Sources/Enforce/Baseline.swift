import Foundation

/// The original value of every control file Enforce touched, and the tenants it manages, kept in a state file so
/// the next start after a crash can restore the host or adopt it.
///
/// - Important: Invariant 6 of the architecture. A file's original value is saved (and the state file written)
///   before the file is first written, so a crash at any instant leaves a complete record.
public struct Baseline: Sendable, Hashable, Codable {
    public struct Entry: Sendable, Hashable, Codable {
        public var path: String
        public var original: String
    }

    /// In the order the files were first touched; restore goes backwards.
    public private(set) var entries: [Entry] = []
    /// Links on which Enforce set up its HTB tree (removed on restore).
    public var shapedLinks: [String] = []
    /// The HTB class minor number of each shaped tenant, the same on every link and across restarts.
    public var classMinors: [String: UInt16] = [:]
    /// Tenants last applied (for adoption after a crash).
    public var tenants: [TenantState] = []

    public init() {}

    /// The tenant's class minor, assigning the next free one (from 2; 1 is the tree's parent class).
    public mutating func classMinor(of tenant: String) -> UInt16 {
        if let minor = classMinors[tenant] { return minor }
        let minor = (classMinors.values.max() ?? 1) + 1
        classMinors[tenant] = minor
        return minor
    }

    public func contains(_ path: String) -> Bool { entries.contains { $0.path == path } }

    public mutating func record(path: String, original: String) {
        if !contains(path) { entries.append(Entry(path: path, original: original)) }
    }

    /// Reads a state file; nil when there is none.
    public static func load(from path: String) throws(EnforceError) -> Baseline? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            return try decoder.decode(Baseline.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw .stateFile(path: path, reason: "\(error)")
        }
    }

    /// Writes the state file atomically (a temporary file renamed over it), creating its directory.
    public func save(to path: String) throws(EnforceError) {
        do {
            let url = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            try encoder.encode(self).write(to: url, options: .atomic)
        } catch {
            throw .stateFile(path: path, reason: "\(error)")
        }
    }
}
