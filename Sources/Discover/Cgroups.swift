/// Reads the cgroup v2 hierarchy: where it is mounted, which cgroup a process is in, a cgroup's id and members.
///
/// On a hybrid host the v2 hierarchy (`/sys/fs/cgroup/unified`) holds no controllers but every process has a cgroup
/// there, with the same relative path as in the v1 hierarchies; on a pure v2 host it is `/sys/fs/cgroup`.
/// Discover only reads here.
public struct CgroupFS: Sendable, Hashable {
    /// Mount point of the v2 hierarchy.
    public let v2Root: String

    public init(v2Root: String) {
        self.v2Root = v2Root
    }

    /// Finds the v2 mount in `/proc/self/mountinfo` (falls back to `/sys/fs/cgroup`).
    public static func detect() -> CgroupFS {
        let mounts = (try? System.readText("/proc/self/mountinfo")) ?? ""
        for line in mounts.split(separator: "\n") {
            // "<id> <parent> <dev> <root> <mountpoint> <options> ... - <fstype> <source> <superoptions>"
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2, halves[1].hasPrefix("cgroup2 ") else { continue }
            let fields = halves[0].split(separator: " ")
            if fields.count > 4 { return CgroupFS(v2Root: String(fields[4])) }
        }
        return CgroupFS(v2Root: "/sys/fs/cgroup")
    }

    /// The directory of a cgroup path (`/libpod_parent/libpod-…`) in the v2 hierarchy.
    public func directory(_ cgroupPath: String) -> String {
        cgroupPath == "/" || cgroupPath.isEmpty ? v2Root : v2Root + (cgroupPath.hasPrefix("/") ? "" : "/") + cgroupPath
    }

    /// The v2 cgroup a process is in (the `0::` line of `/proc/PID/cgroup`); on a v1-only host, its `cpu` cgroup.
    public func cgroupPath(ofProcess processID: Int32) throws(DiscoveryError) -> String {
        let path = "/proc/\(processID)/cgroup"
        let lines = try System.readText(path).split(separator: "\n")
        if let unified = lines.first(where: { $0.hasPrefix("0::") }) { return String(unified.dropFirst(3)) }
        for line in lines {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if fields.count == 3, fields[1].split(separator: ",").contains("cpu") { return String(fields[2]) }
        }
        throw .malformedResponse(endpoint: path, path: "", reason: "no v2 or cpu cgroup line")
    }

    /// The cgroup id: the inode number of the v2 directory, as `bpf_get_current_cgroup_id()` reports it.
    public func cgroupID(_ cgroupPath: String) throws(DiscoveryError) -> UInt64 {
        try System.inode(directory(cgroupPath))
    }

    /// The processes directly in a cgroup (`cgroup.procs`).
    public func processIDs(_ cgroupPath: String) throws(DiscoveryError) -> [Int32] {
        try Self.integers(System.readText(directory(cgroupPath) + "/cgroup.procs"))
    }

    /// The processes in a cgroup and all its descendants.
    public func processIDsRecursively(_ cgroupPath: String) throws(DiscoveryError) -> [Int32] {
        var result = try processIDs(cgroupPath)
        for child in try childCgroups(cgroupPath) { result += (try? processIDsRecursively(child)) ?? [] }
        return result
    }

    /// The child cgroups of a cgroup, as cgroup paths.
    public func childCgroups(_ cgroupPath: String) throws(DiscoveryError) -> [String] {
        let base = cgroupPath == "/" ? "" : cgroupPath
        let directory = directory(cgroupPath)
        return try System.listDirectory(directory).filter { System.isDirectory(directory + "/" + $0) }.sorted().map { base + "/" + $0 }
    }

    static func integers(_ text: String) -> [Int32] {
        text.split(whereSeparator: \.isNewline).compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
    }
}
