import Foundation
import Pool

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

    /// A thread Enforce pinned one by one (a microVM vCPU), with the affinity it had before, and its start time
    /// (field 22 of `/proc/TID/stat`) so that a thread id the kernel gave to another thread since is not touched.
    public struct PinnedThread: Sendable, Hashable, Codable {
        public var threadID: Int32
        public var startTime: String
        public var originalCPUs: CPUSet
    }

    /// In the order the files were first touched; restore goes backwards.
    public private(set) var entries: [Entry] = []
    /// Links on which Enforce set up its HTB tree (removed on restore).
    public var shapedLinks: [String] = []
    /// Links whose clsact qdisc Enforce created (removed on restore, after Enforce's filters on it).
    public var clsactLinks: [String] = []
    /// The ifb device that shapes each link's ingress, recorded before the device is made (removed on restore).
    public var ingressDevices: [String: String] = [:]
    /// The HTB class minor number of each shaped tenant, the same on every link and across restarts.
    public var classMinors: [String: UInt16] = [:]
    /// Tenants last applied (for adoption after a crash).
    public private(set) var tenants: [TenantState] = []
    /// Threads pinned one by one, in the order first pinned.
    public private(set) var pinnedThreads: [PinnedThread] = []
    /// Lookup sets for the two lists above, so a tick's bookkeeping does not scan them.
    private var recordedPaths: Set<String> = []
    private var recordedTenants: Set<String> = []

    private enum CodingKeys: String, CodingKey { case entries, shapedLinks, classMinors, tenants, pinnedThreads, clsactLinks, ingressDevices }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        entries = try container.decode([Entry].self, forKey: .entries)
        shapedLinks = try container.decode([String].self, forKey: .shapedLinks)
        classMinors = try container.decode([String: UInt16].self, forKey: .classMinors)
        tenants = try container.decode([TenantState].self, forKey: .tenants)
        // State files written before threads were recorded have none.
        pinnedThreads = try container.decodeIfPresent([PinnedThread].self, forKey: .pinnedThreads) ?? []
        // Likewise for the clsact qdiscs and ingress devices.
        clsactLinks = try container.decodeIfPresent([String].self, forKey: .clsactLinks) ?? []
        ingressDevices = try container.decodeIfPresent([String: String].self, forKey: .ingressDevices) ?? [:]
        recordedPaths = Set(entries.map(\.path))
        recordedTenants = Set(tenants.map(\.name))
    }

    public func contains(tenant name: String) -> Bool { recordedTenants.contains(name) }

    /// Remembers a tenant (with the knobs it manages) for adoption after a crash.
    public mutating func record(tenant: TenantState) {
        if recordedTenants.insert(tenant.name).inserted { tenants.append(tenant) }
    }

    /// The tenant's class minor, assigning the lowest free one (from 2; 1 is the tree's parent class), so the
    /// minors of tenants that came and went are used again and never run out.
    public mutating func classMinor(of tenant: String) -> UInt16 {
        if let minor = classMinors[tenant] { return minor }
        let taken = Set(classMinors.values)
        let minor = (2...UInt16.max).first { !taken.contains($0) } ?? UInt16.max
        classMinors[tenant] = minor
        return minor
    }

    public func contains(_ path: String) -> Bool { recordedPaths.contains(path) }

    public func contains(thread threadID: Int32) -> Bool { pinnedThreads.contains { $0.threadID == threadID } }

    /// Remembers a thread's affinity before its first pinning (the first record of a thread id stays).
    public mutating func record(thread: PinnedThread) {
        if !contains(thread: thread.threadID) { pinnedThreads.append(thread) }
    }

    /// Drops a tenant that is gone: its record, its class, the files listed (they no longer exist) and the threads
    /// listed (they ended).
    public mutating func forget(tenant name: String, paths: Set<String>, threadIDs: Set<Int32>) {
        tenants.removeAll { $0.name == name }
        recordedTenants.remove(name)
        classMinors[name] = nil
        entries.removeAll { paths.contains($0.path) }
        recordedPaths.subtract(paths)
        pinnedThreads.removeAll { threadIDs.contains($0.threadID) }
    }

    public mutating func record(path: String, original: String) {
        if recordedPaths.insert(path).inserted { entries.append(Entry(path: path, original: original)) }
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
