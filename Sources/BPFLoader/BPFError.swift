import Glibc

/// What went wrong between dpm and the kernel's BPF subsystem, with what a person needs to act on it.
public enum BPFError: Error, Equatable, CustomStringConvertible {
    /// The process lacks the capabilities to load and attach BPF programs.
    case missingCapabilities(missing: [String])
    /// The kernel exposes no BTF, which CO-RE relocation and `tp_btf` programs need.
    case noKernelBTF(path: String)
    /// libbpf could not parse the embedded object.
    case openFailed(object: String, errno: Int32)
    /// The verifier or the kernel refused the object.
    case loadFailed(object: String, errno: Int32)
    case programNotFound(object: String, program: String)
    case mapNotFound(object: String, map: String)
    /// A `const volatile` or global variable the caller named is not in the object's data section.
    case variableNotFound(object: String, section: String, variable: String)
    case attachFailed(program: String, target: String, errno: Int32)
    case mapOperationFailed(map: String, operation: String, errno: Int32)
    /// bpffs is not mounted at the path and mounting it failed.
    case bpffsUnavailable(path: String, errno: Int32)
    case pinFailed(path: String, errno: Int32)
    /// A path given as a cgroup is missing or not in a cgroup v2 hierarchy.
    case notACgroupV2Directory(path: String, reason: String)
    /// Every tenant slot is taken.
    case noFreeSlot(cgroupPath: String, capacity: Int)

    public var description: String {
        switch self {
        case .missingCapabilities(let missing):
            "BPF needs root: missing capabilities \(missing.joined(separator: ", ")) (have CAP_SYS_ADMIN, or CAP_BPF, "
                + "CAP_PERFMON and CAP_NET_ADMIN)"
        case .noKernelBTF(let path):
            "the kernel has no BTF at \(path) (needs CONFIG_DEBUG_INFO_BTF=y for CO-RE)"
        case .openFailed(let object, let errno):
            "cannot open BPF object \(object): \(Self.text(errno))"
        case .loadFailed(let object, let errno):
            "the kernel refused BPF object \(object): \(Self.text(errno))"
        case .programNotFound(let object, let program):
            "BPF object \(object) has no program \(program)"
        case .mapNotFound(let object, let map):
            "BPF object \(object) has no map \(map)"
        case .variableNotFound(let object, let section, let variable):
            "BPF object \(object) has no variable \(variable) in \(section)"
        case .attachFailed(let program, let target, let errno):
            "cannot attach BPF program \(program) to \(target): \(Self.text(errno))"
        case .mapOperationFailed(let map, let operation, let errno):
            "BPF map \(map): \(operation) failed: \(Self.text(errno))"
        case .bpffsUnavailable(let path, let errno):
            "bpffs is not mounted at \(path) and mounting it failed: \(Self.text(errno))"
        case .pinFailed(let path, let errno):
            "cannot pin at \(path): \(Self.text(errno))"
        case .notACgroupV2Directory(let path, let reason):
            "\(path) is not a cgroup v2 directory: \(reason)"
        case .noFreeSlot(let path, let capacity):
            "cannot watch \(path): all \(capacity) tenant slots are in use"
        }
    }

    static func text(_ errno: Int32) -> String {
        "\(String(cString: strerror(errno))) (errno \(errno))"
    }
}
