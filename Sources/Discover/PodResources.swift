import Pool

/// A pod's resource requests and limits, summed the way the kubelet sizes the pod's cgroup, as a tenant's guarantee
/// and cap: requests become the guarantee (CPU cores, memory bytes), limits the cap.
///
/// Per resource (`cpu`, `memory`): the pod requests the larger of the sum over its containers and the largest request
/// of one init container (they run one at a time, before the others), plus the pod's `overhead`; a container that
/// sets a limit but no request requests its limit (the API server's default). The pod has a limit only when every
/// container and init container sets one; it is computed the same way. Pod-level `spec.resources` (Kubernetes 1.32
/// and later), when it names a resource, replaces the sums for it. A quantity that does not parse is left out and a
/// warning names the container and field; a request above its limit keeps the request and drops the cap, warned.
struct PodResources: Equatable {
    var guaranteed: ResourceVector = .zero
    var cap: ResourceVector = .unlimited

    /// The resources of `spec` (nil: a pod list entry without one: no guarantee, no cap).
    static func of(_ spec: PodSpec?, pod: String, source: SourceID) -> (PodResources, [DiscoveryWarning]) {
        var resources = PodResources()
        guard let spec else { return (resources, []) }
        var warnings: [DiscoveryWarning] = []
        func amount(_ list: [String: String]?, _ kind: ResourceKind, _ field: String) -> Double? {
            guard let text = list?[kind.apiName] else { return nil }
            guard let value = KubernetesQuantity.value(text) else {
                warnings.append(DiscoveryWarning(
                    source: source, tenant: pod, message: "\(field).\(kind.apiName)=\(text) is not a Kubernetes quantity; ignored"
                ))
                return nil
            }
            return kind == .memory ? value.rounded(.up) : value
        }
        let containers = spec.containers ?? [], initContainers = spec.initContainers ?? []
        for kind in [ResourceKind.cpu, .memory] {
            // Per container: (request, limit), nil where not set.
            func sized(_ list: [PodSpec.Container], _ role: String) -> [(request: Double?, limit: Double?)] {
                list.map { container in
                    let field = "\(role) \(container.name) resources"
                    let limit = amount(container.resources?.limits, kind, field + ".limits")
                    return (amount(container.resources?.requests, kind, field + ".requests") ?? limit, limit)
                }
            }
            let main = sized(containers, "container"), initial = sized(initContainers, "init container")
            let overhead = amount(spec.overhead, kind, "overhead") ?? 0
            var request = max(main.reduce(0) { $0 + ($1.request ?? 0) }, initial.map { $0.request ?? 0 }.max() ?? 0)
            let everyLimit = !main.isEmpty && (main + initial).allSatisfy { $0.limit != nil }
            var limit: Double? = everyLimit ? max(main.compactMap(\.limit).reduce(0, +), initial.compactMap(\.limit).max() ?? 0) : nil
            if let podRequest = amount(spec.resources?.requests, kind, "pod resources.requests") { request = podRequest }
            if let podLimit = amount(spec.resources?.limits, kind, "pod resources.limits") { limit = podLimit }
            request += overhead
            limit = limit.map { $0 + overhead }
            if let cap = limit, request > cap {
                warnings.append(DiscoveryWarning(
                    source: source, tenant: pod,
                    message: "\(kind.apiName) request of \(request) \(kind.unit) exceeds its limit of \(cap) \(kind.unit); no \(kind.apiName) cap"
                ))
                limit = nil
            }
            resources.guaranteed[kind] = request
            resources.cap[kind] = limit ?? .infinity
        }
        return (resources, warnings)
    }
}

/// The parts of a pod's `spec` that size it (the API's field names).
struct PodSpec: Decodable, Sendable {
    struct Requirements: Decodable, Sendable {
        var requests: [String: String]?
        var limits: [String: String]?
    }
    struct Container: Decodable, Sendable {
        var name: String
        var resources: Requirements?
    }
    var containers: [Container]?
    var initContainers: [Container]?
    var overhead: [String: String]?
    var resources: Requirements?
}

/// Kubernetes resource quantities (`resource.Quantity`): a decimal number, optionally with an exponent (`2e3`), a
/// binary suffix (`Ki Mi Gi Ti Pi Ei`) or a decimal one (`n u m k M G T P E`).
enum KubernetesQuantity {
    /// `500m` → 0.5, `128Mi` → 134217728, `1G` → 1e9, `1.5` → 1.5, `2e3` → 2000; nil when it is not a quantity.
    static func value(_ text: String) -> Double? {
        let binary: [(suffix: String, factor: Double)] = [
            ("Ki", 0x1p10), ("Mi", 0x1p20), ("Gi", 0x1p30), ("Ti", 0x1p40), ("Pi", 0x1p50), ("Ei", 0x1p60),
        ]
        if let unit = binary.first(where: { text.hasSuffix($0.suffix) }) {
            return number(text.dropLast(2)).map { $0 * unit.factor }
        }
        let decimal: [Character: Double] = ["n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18]
        if let last = text.last, let factor = decimal[last] {
            return number(text.dropLast()).map { $0 * factor }
        }
        return number(Substring(text))
    }

    /// A non-negative finite decimal (with an optional `e` exponent); no `inf`, `nan` or hexadecimal.
    private static func number(_ text: Substring) -> Double? {
        guard !text.isEmpty, text.allSatisfy({ "0123456789.+-eE".contains($0) }), let value = Double(text), value.isFinite, value >= 0 else {
            return nil
        }
        return value
    }
}

extension ResourceKind {
    /// The resource's name in a Kubernetes resource list.
    fileprivate var apiName: String { self == .cpu ? "cpu" : "memory" }
}
