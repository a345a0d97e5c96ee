import Foundation

/// The edge's on-disk queue of uploads not yet acknowledged by the central service.
///
/// Each upload is one file named by its sequence number, written durably (temporary file, fsync, rename) before
/// `append` returns, so an agent crash or a central outage loses nothing. A file is removed only after central
/// acknowledged it (stored or already stored), so a retry after any failure sends the same sequence again and
/// central's idempotency keeps it from being counted twice. Uploads central refuses as invalid move to
/// `rejected/` for an operator instead of blocking the queue.
public struct UploadSpool: Sendable {
    public let directory: URL
    var rejectedDirectory: URL { directory.appendingPathComponent("rejected", isDirectory: true) }

    public init(directory: URL) throws(CentralSyncError) {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(at: rejectedDirectory, withIntermediateDirectories: true)
        } catch {
            throw .spool(path: directory.path, reason: "cannot create the spool directory: \(error)")
        }
    }

    /// Sequence numbers waiting for upload, oldest first.
    public func pendingSequences() throws(CentralSyncError) -> [Int64] {
        try sequences(in: directory)
    }

    /// Sequence numbers central refused as invalid.
    public func rejectedSequences() throws(CentralSyncError) -> [Int64] {
        try sequences(in: rejectedDirectory)
    }

    /// Writes one upload durably under the next sequence number and returns that number.
    ///
    /// The next number is one past the highest ever used, whether pending, rejected or recorded in `last-sequence`
    /// (kept after acknowledged files are removed), so numbers never repeat across restarts.
    public func append(_ body: UploadBody) throws(CentralSyncError) -> Int64 {
        let sequence = try nextSequence()
        let data: Data
        do { data = try JSONEncoder().encode(body) } catch {
            throw .spool(path: directory.path, reason: "cannot encode upload \(sequence): \(error)")
        }
        try writeDurably(data, to: fileURL(sequence, in: directory))
        try writeDurably(Data(String(sequence).utf8), to: directory.appendingPathComponent("last-sequence"))
        return sequence
    }

    /// The stored body of one pending upload.
    public func body(of sequence: Int64) throws(CentralSyncError) -> Data {
        let url = fileURL(sequence, in: directory)
        do { return try Data(contentsOf: url) } catch {
            throw .spool(path: url.path, reason: "cannot read: \(error)")
        }
    }

    /// Forgets an upload central acknowledged.
    public func remove(_ sequence: Int64) throws(CentralSyncError) {
        let url = fileURL(sequence, in: directory)
        do { try FileManager.default.removeItem(at: url) } catch {
            throw .spool(path: url.path, reason: "cannot remove: \(error)")
        }
    }

    /// Moves an upload central refused as invalid out of the queue, keeping it for inspection.
    public func reject(_ sequence: Int64) throws(CentralSyncError) {
        let from = fileURL(sequence, in: directory)
        do { try FileManager.default.moveItem(at: from, to: fileURL(sequence, in: rejectedDirectory)) } catch {
            throw .spool(path: from.path, reason: "cannot move to rejected/: \(error)")
        }
    }

    private func nextSequence() throws(CentralSyncError) -> Int64 {
        let recorded = (try? String(contentsOf: directory.appendingPathComponent("last-sequence"), encoding: .utf8))
            .flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? -1
        let highest = max(recorded, try pendingSequences().last ?? -1, try rejectedSequences().last ?? -1)
        return highest + 1
    }

    private func fileURL(_ sequence: Int64, in folder: URL) -> URL {
        let digits = String(sequence)
        return folder.appendingPathComponent(String(repeating: "0", count: max(0, 19 - digits.count)) + digits + ".json")
    }

    private func sequences(in folder: URL) throws(CentralSyncError) -> [Int64] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder.path) } catch {
            throw .spool(path: folder.path, reason: "cannot list: \(error)")
        }
        return names.compactMap { $0.hasSuffix(".json") ? Int64($0.dropLast(5)) : nil }.sorted()
    }

    private func writeDurably(_ data: Data, to url: URL) throws(CentralSyncError) {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".tmp-" + url.lastPathComponent)
        do {
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
                throw CentralSyncError.spool(path: temporary.path, reason: "cannot create")
            }
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try handle.write(contentsOf: data)
            try handle.synchronize()
            if rename(temporary.path, url.path) != 0 {
                throw CentralSyncError.spool(path: url.path, reason: "rename failed, errno \(errno)")
            }
        } catch let error as CentralSyncError {
            throw error
        } catch {
            throw .spool(path: url.path, reason: "cannot write: \(error)")
        }
    }
}

/// What can go wrong on the edge side of the sync.
public enum CentralSyncError: Error, Sendable, CustomStringConvertible {
    /// The on-disk spool could not be read or written.
    case spool(path: String, reason: String)
    /// Central could not be reached (connection refused, timeout, DNS).
    case unreachable(url: String, reason: String)
    /// Central answered with an error status.
    case status(url: String, code: Int, message: String)
    /// Central's answer could not be decoded.
    case malformedResponse(url: String, reason: String)

    public var description: String {
        switch self {
        case .spool(let path, let reason): "spool \(path): \(reason)"
        case .unreachable(let url, let reason): "central unreachable at \(url): \(reason)"
        case .status(let url, let code, let message): "central answered \(code) for \(url): \(message)"
        case .malformedResponse(let url, let reason): "malformed answer from \(url): \(reason)"
        }
    }
}
