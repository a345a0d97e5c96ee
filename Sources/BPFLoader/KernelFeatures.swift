import CLibBPF
import Glibc

/// What this kernel offers, probed once and cached for the process's life (as aya's `kernel_features`).
public enum KernelFeatures {
    public static let kernelBTFPath = "/sys/kernel/btf/vmlinux"

    /// The kernel describes its types in BTF (CO-RE relocations need it).
    public static let hasKernelBTF: Bool = access(kernelBTFPath, R_OK) == 0

    /// `tp_btf` programs load on the scheduler tracepoints: the fast flavour of the telemetry probes. When false,
    /// the loader falls back to `raw_tp` programs and a pid-keyed hash.
    public static let hasTypedTracepoints: Bool = hasKernelBTF && dpm_probe_tp_btf("sched_switch") == 1

    static func requireKernelBTF() throws {
        guard hasKernelBTF else { throw BPFError.noKernelBTF(path: kernelBTFPath) }
    }
}

/// The capabilities BPF loading needs, read from `/proc/self/status` before the first `bpf()` call so that an
/// unprivileged run fails with a clear message instead of a bare EPERM from deep inside libbpf.
enum Privileges {
    static let capabilityNetAdmin = 12
    static let capabilitySysAdmin = 21
    static let capabilityPerfmon = 38
    static let capabilityBPF = 39

    static func requireBPF() throws {
        let effective = effectiveCapabilities()
        func has(_ capability: Int) -> Bool { effective & (1 << UInt64(capability)) != 0 }
        if has(capabilitySysAdmin) { return }
        let missing = [
            (capabilityBPF, "CAP_BPF"), (capabilityPerfmon, "CAP_PERFMON"), (capabilityNetAdmin, "CAP_NET_ADMIN"),
        ].filter { !has($0.0) }.map(\.1)
        if !missing.isEmpty { throw BPFError.missingCapabilities(missing: ["CAP_SYS_ADMIN"] + missing) }
    }

    /// The `CapEff` mask of this process; 0 when it cannot be read.
    static func effectiveCapabilities() -> UInt64 {
        guard let status = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(status) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), status) != nil {
            let text = String(cString: line)
            if text.hasPrefix("CapEff:") {
                return UInt64(text.dropFirst("CapEff:".count).trimmingCharacters(in: " \t\n"), radix: 16) ?? 0
            }
        }
        return 0
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in characters: String) -> String {
        String(drop(while: characters.contains).reversed().drop(while: characters.contains).reversed())
    }
}
