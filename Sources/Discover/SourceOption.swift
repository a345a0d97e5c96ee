/// A tenant source as an operator names it, the same on the command line (`dpm tenants --source`) and in the
/// agent's configuration (`sources:`): `docker[:SOCKET]`, `kubernetes[:SCAN_ROOT]`, `qemu:QMP_SOCKET`,
/// `vcpu-threads`. Static tenants are not among them: they come from a file the caller reads.
public enum SourceOption: Sendable, Hashable, CustomStringConvertible {
    case docker(socketPath: String)
    case kubernetes(scanRoot: String)
    case qemu(qmpSocketPath: String)
    case vcpuThreads

    /// The forms `init(parsing:)` accepts, for error messages.
    public static let forms = "docker[:SOCKET], kubernetes[:SCAN_ROOT], qemu:QMP_SOCKET or vcpu-threads"

    /// Parses one of `forms`; nil for anything else (an unknown kind, `qemu` without its socket, an empty path).
    public init?(parsing text: String) {
        let kind = text.prefix { $0 != ":" }
        let argument: String? = kind.count < text.count ? String(text.dropFirst(kind.count + 1)) : nil
        if argument?.isEmpty == true { return nil }
        switch (kind, argument) {
        case ("docker", _): self = .docker(socketPath: argument ?? "/var/run/docker.sock")
        case ("kubernetes", _): self = .kubernetes(scanRoot: argument ?? "/")
        case ("qemu", let socket?): self = .qemu(qmpSocketPath: socket)
        case ("vcpu-threads", nil): self = .vcpuThreads
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case let .docker(socketPath): "docker:\(socketPath)"
        case let .kubernetes(scanRoot): "kubernetes:\(scanRoot)"
        case let .qemu(qmpSocketPath): "qemu:\(qmpSocketPath)"
        case .vcpuThreads: "vcpu-threads"
        }
    }

    /// The source this option names. Kubernetes pod annotations come from the API server when the process runs
    /// in a pod (service-account environment), else from nowhere (cgroup layout only).
    public func makeSource(cgroups: CgroupFS) -> any TenantSource {
        switch self {
        case let .docker(socketPath): DockerSource(socketPath: socketPath, cgroups: cgroups)
        case let .kubernetes(scanRoot): KubernetesSource(scanRoot: scanRoot, podList: KubernetesSource.podListFromEnvironment(), cgroups: cgroups)
        case let .qemu(qmpSocketPath): QEMUSource(qmpSocketPaths: [qmpSocketPath], cgroups: cgroups)
        case .vcpuThreads: VCPUThreadSource(cgroups: cgroups)
        }
    }
}
