import Glibc

/// Tells whether a tenant's cgroup directory is still there, cheaply enough to ask for every tenant ten times a second
/// (the agent's main thread does, to retire a tenant whose cgroup was removed).
///
/// Asked by path (`access("<root>/unified/<tenant>/cgroup.procs")`), each question walks every component of the path
/// through kernfs: for 64 tenants that was a fifth of the agent's CPU outside the tick (agent benchmark, perf,
/// 2026-11-30). This keeps the directory it found open and asks for `cgroup.procs` relative to it, a
/// one-component lookup. A removed cgroup's directory keeps no entries, so the question fails even through a
/// descriptor still open on it; then the directory is closed and looked up by path again, which finds a new cgroup
/// of the same name, or the tenant's directory in another hierarchy that lingers.
///
/// Main thread only (not thread-safe).
final class CgroupPresence {
    /// Where a tenant's cgroup may be, first match wins: the v2 hierarchy of a hybrid host, the v1 `cpu` one, the
    /// root of a pure v2 host.
    private let candidates: (String) -> [String]
    /// The directory found for each cgroup path asked about, and its descriptor.
    private var found: [String: (directory: String, descriptor: Int32)] = [:]

    init(cgroupRoot: String) {
        candidates = { path in ["\(cgroupRoot)/unified/\(path)", "\(cgroupRoot)/cpu/\(path)", "\(cgroupRoot)/\(path)"] }
    }

    deinit {
        for entry in found.values { Glibc.close(entry.descriptor) }
    }

    /// Whether the cgroup at `path` (relative to the cgroup root) is still there in any hierarchy.
    func exists(_ path: String) -> Bool { directory(of: path) != nil }

    /// The first of the cgroup's directories that is still there, nil when all are gone.
    func directory(of path: String) -> String? {
        if let entry = found[path] {
            if faccessat(entry.descriptor, "cgroup.procs", F_OK, 0) == 0 { return entry.directory }
            Glibc.close(entry.descriptor)
            found[path] = nil
        }
        guard let directory = candidates(path).first(where: { access("\($0)/cgroup.procs", F_OK) == 0 }) else { return nil }
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 { found[path] = (directory, descriptor) }
        return directory
    }

    /// Closes what is kept for `path` (a tenant the agent no longer follows).
    func forget(_ path: String) {
        guard let entry = found.removeValue(forKey: path) else { return }
        Glibc.close(entry.descriptor)
    }
}
