import Pool

/// A control-file write the kernel refused: which file, what value, and the errno it answered.
public struct CgroupWriteError: Error, Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var value: String
    public var errno: ErrnoCode

    public init(path: String, value: String, errno: ErrnoCode) {
        self.path = path
        self.value = value
        self.errno = errno
    }

    public var description: String { "writing \"\(value)\" to \(path): \(errno)" }
}

/// Why Enforce refused or failed an operation, with the context a person needs to act.
public enum EnforceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The kernel refused a write (after the transaction was rolled back, see `rolledBack`).
    case write(CgroupWriteError)
    /// A file could not be read.
    case read(path: String, errno: ErrnoCode)
    /// A file held something Enforce cannot parse.
    case unparsable(path: String, content: String)
    /// The tenant's cgroup does not exist (or vanished) in a hierarchy Enforce needs.
    case cgroupMissing(path: String)
    /// No cgroup hierarchy with the controller Enforce needs is mounted.
    case controllerMissing(String)
    /// A CPU that is not online on this host.
    case cpuOffline(Int, online: CPUSet)
    /// A memory limit below what the tenant already uses: the kernel would reclaim or OOM-kill to meet it.
    case memoryBelowUsage(tenant: String, limitBytes: Double, usageBytes: Double)
    /// A network device that does not exist.
    case deviceMissing(String)
    /// A thread's affinity could not be set.
    case threadAffinity(threadID: Int32, cpus: CPUSet, errno: ErrnoCode)
    /// A process's pages could not be moved to its new NUMA nodes.
    case pageMigration(processID: Int32, toNodes: CPUSet, errno: ErrnoCode)
    /// A netlink request the kernel answered with an error.
    case netlink(request: String, errno: ErrnoCode)
    /// Traffic shaping on a link that this Enforcer cannot make or take down: it was made without traffic control
    /// (`bandwidth: nil`).
    case shapingLeft(link: String)
    /// The egress classifier could not be loaded or updated.
    case bpf(String)
    /// The requested partition breaks capacity or a guarantee.
    case invalidAllocation(PoolError)
    /// No order of writes keeps every intermediate state valid (for example two tenants swapping their only
    /// cores with no free core to pass through).
    case noSafeOrder(tenants: [String])
    /// A write failed; everything written before it in the transaction was put back.
    indirect case rolledBack(cause: EnforceError, restoredWrites: Int)
    /// A state file that cannot be read back.
    case stateFile(path: String, reason: String)

    public var description: String {
        switch self {
        case let .write(error): "\(error)"
        case let .read(path, errno): "reading \(path): \(errno)"
        case let .unparsable(path, content): "\(path): cannot parse \"\(content)\""
        case let .cgroupMissing(path): "cgroup \(path) does not exist"
        case let .controllerMissing(name): "no mounted cgroup hierarchy has the \(name) controller"
        case let .cpuOffline(cpu, online): "CPU \(cpu) is not online (online: \(online))"
        case let .memoryBelowUsage(tenant, limit, usage):
            "\(tenant): memory limit \(Int64(limit)) bytes is below its current usage of \(Int64(usage)) bytes"
        case let .deviceMissing(name): "network device \(name) does not exist"
        case let .threadAffinity(thread, cpus, errno): "setting thread \(thread)'s affinity to CPUs \(cpus): \(errno)"
        case let .pageMigration(process, nodes, errno): "moving process \(process)'s pages to nodes \(nodes): \(errno)"
        case let .netlink(request, errno): "netlink \(request): \(errno)"
        case let .shapingLeft(link): "traffic shaping on \(link): this Enforcer has no traffic control to make or remove it with"
        case let .bpf(reason): "egress classifier: \(reason)"
        case let .invalidAllocation(error): "invalid allocation: \(error)"
        case let .noSafeOrder(tenants): "no safe order of writes for tenants \(tenants.joined(separator: ", "))"
        case let .rolledBack(cause, count): "\(cause); rolled back \(count) write(s) to the last valid state"
        case let .stateFile(path, reason): "state file \(path): \(reason)"
        }
    }
}
