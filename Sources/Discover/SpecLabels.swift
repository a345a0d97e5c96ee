import Pool

/// Turns a tenant's labels (Docker) or annotations (Kubernetes) into its spec.
///
/// Keys, after a prefix (`dpm.` for Docker labels, `dpm.io/` for Kubernetes annotations):
///
/// | key | value | example |
/// |---|---|---|
/// | `class` | `latency-critical`, `burstable` or `best-effort` | `dpm.class=latency-critical` |
/// | `cpu.min` | guaranteed CPU, cores (decimal) or millicores with `m` | `dpm.cpu.min=1.5`, `dpm.cpu.min=500m` |
/// | `cpu.max` | CPU cap, same format | `dpm.cpu.max=4` |
/// | `memory.min` | guaranteed memory, bytes with an optional suffix `K M G T` (powers of 1000) or `Ki Mi Gi Ti` (powers of 1024) | `dpm.memory.min=512Mi` |
/// | `memory.max` | memory cap, same format | `dpm.memory.max=2G` |
/// | `slo.runq-p99` | run-queue wait p99 objective, a number with a unit `ns us ms s` | `dpm.slo.runq-p99=500us` |
///
/// A value that does not parse, or a min above its max, gives the tenant the default for that field and a warning
/// that names the label and its value. Keys with the prefix but not in the table are warned about too. The defaults
/// are no guarantee and no cap unless the source knows better (a pod's requests and limits, `PodResources`).
public enum SpecLabels {
    public static let dockerPrefix = "dpm."
    public static let kubernetesPrefix = "dpm.io/"

    /// The spec from `labels`; `defaultClass`, `defaultGuaranteed` and `defaultCap` apply where no valid label is set.
    public static func spec(
        name: String,
        cgroupPath: String,
        defaultClass: TenantClass,
        defaultGuaranteed: ResourceVector = .zero,
        defaultCap: ResourceVector = .unlimited,
        labels: [String: String],
        prefix: String,
        source: SourceID
    ) -> (spec: TenantSpec, warnings: [DiscoveryWarning]) {
        var spec = TenantSpec(name: name, cgroupPath: cgroupPath, tenantClass: defaultClass, guaranteed: defaultGuaranteed, cap: defaultCap)
        var warnings: [DiscoveryWarning] = []
        func warn(_ key: String, _ value: String, _ expected: String) {
            warnings.append(DiscoveryWarning(
                source: source, tenant: name,
                message: "label \(prefix)\(key)=\(value) is malformed (expected \(expected)); using the default"
            ))
        }
        for (fullKey, value) in labels.sorted(by: { $0.key < $1.key }) where fullKey.hasPrefix(prefix) {
            let key = String(fullKey.dropFirst(prefix.count))
            switch key {
            case "class":
                if let tenantClass = TenantClass(rawValue: value) { spec.tenantClass = tenantClass }
                else { warn(key, value, "latency-critical, burstable or best-effort") }
            case "cpu.min", "cpu.max":
                if let cores = parseCores(value) {
                    if key == "cpu.min" { spec.guaranteed.cpuCores = cores } else { spec.cap.cpuCores = cores }
                } else { warn(key, value, "cores such as 1.5 or millicores such as 500m") }
            case "memory.min", "memory.max":
                if let bytes = parseBytes(value) {
                    if key == "memory.min" { spec.guaranteed.memoryBytes = bytes } else { spec.cap.memoryBytes = bytes }
                } else { warn(key, value, "bytes such as 1073741824, 512Mi or 2G") }
            case "slo.runq-p99":
                if let nanoseconds = parseNanoseconds(value) { spec.slo.runQueueWaitP99Nanoseconds = nanoseconds }
                else { warn(key, value, "a duration such as 500us, 2ms or 1s") }
            default:
                warnings.append(DiscoveryWarning(source: source, tenant: name, message: "label \(fullKey) is not a dpm label; ignored"))
            }
        }
        for kind in [ResourceKind.cpu, .memory] where spec.guaranteed[kind] > spec.cap[kind] {
            // Each bound is a label or, where none is set, the source's default (a pod's request or limit).
            func bound(_ side: String, _ value: Double) -> String {
                labels[prefix + "\(kind).\(side)"].map { "label \(prefix)\(kind).\(side)=\($0)" } ?? "the default \(kind).\(side) of \(value) \(kind.unit)"
            }
            warnings.append(DiscoveryWarning(
                source: source, tenant: name,
                message: "\(bound("min", spec.guaranteed[kind])) exceeds \(bound("max", spec.cap[kind])); using the defaults for both"
            ))
            spec.guaranteed[kind] = defaultGuaranteed[kind]
            spec.cap[kind] = defaultCap[kind]
        }
        return (spec, warnings)
    }

    /// Only the `dpm` labels of a label set: what a spec is built from.
    public static func specLabels(_ labels: [String: String], prefix: String) -> [String: String] {
        labels.filter { $0.key.hasPrefix(prefix) }
    }

    /// `1.5` → 1.5 cores, `500m` → 0.5 cores.
    static func parseCores(_ text: String) -> Double? {
        if text.hasSuffix("m") { return Double(text.dropLast()).flatMap(finiteNonNegative).map { $0 / 1000 } }
        return Double(text).flatMap(finiteNonNegative)
    }

    /// `1073741824`, `1G` (10^9), `512Mi` (2^29).
    static func parseBytes(_ text: String) -> Double? {
        let suffixes: [(String, Double)] = [
            ("Ki", 0x1p10), ("Mi", 0x1p20), ("Gi", 0x1p30), ("Ti", 0x1p40),
            ("K", 1e3), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12),
        ]
        for (suffix, factor) in suffixes where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).flatMap(finiteNonNegative).map { ($0 * factor).rounded() }
        }
        return Double(text).flatMap(finiteNonNegative)
    }

    /// `500us` → 500 000 ns; a unit is required.
    static func parseNanoseconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9)]
        for (unit, factor) in units where text.hasSuffix(unit) {
            return Double(text.dropLast(unit.count)).flatMap(finiteNonNegative).flatMap { $0 > 0 ? $0 * factor : nil }
        }
        return nil
    }

    private static func finiteNonNegative(_ value: Double) -> Double? { value.isFinite && value >= 0 ? value : nil }
}
