import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Pool

/// Kubernetes pods found from the kubelet's cgroup layout, named and annotated from the kubelet or the API server.
///
/// Both cgroup drivers are read under `scanRoot`:
/// - systemd: `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope`
///   (uid dashes written as `_`; Guaranteed pods sit directly in `kubepods.slice/kubepods-pod<uid>.slice`);
/// - cgroupfs: `kubepods/burstable/pod<uid>/<id>` (Guaranteed pods in `kubepods/pod<uid>`).
///
/// Each pod is a tenant in its pod cgroup (all its containers), named `<namespace>/<name>` when the pod list
/// knows it, else `pod/<uid>`. Its class comes from the `dpm.io/class` annotation, else from its QoS class as the
/// path shows it: Guaranteed → latency-critical, Burstable → burstable, BestEffort → best-effort. Its guarantee and
/// cap come from its containers' resource requests and limits in the pod list (`PodResources`: requests → `cpu.min`,
/// `memory.min`; limits → `cpu.max`, `memory.max`); the other `dpm.io/…` annotations follow `SpecLabels` and
/// override them. When the pod list cannot be fetched the pods are still found (by uid, no guarantee or cap) and a
/// warning says why.
///
/// The kubelet CPU manager's static policy owns the CPUs it gives Guaranteed containers: they are read from its state
/// file, reported as reserved, and given to their pod as `exclusiveCoreIDs`.
///
/// Followed by events: inotify on the kubepods cgroup tree (a pod cgroup created or removed under either driver) and
/// on the CPU manager's state file trigger a look at once; a look every `pollIntervalSeconds` (default 5) is the
/// fallback and catches what no event shows (annotations or resources changed in the pod list).
public struct KubernetesSource: TenantSource {
    /// Where pod names and annotations come from.
    public enum PodList: Sendable, Hashable {
        case none
        /// A `PodList` endpoint: the kubelet's `/pods` or the API server's `/api/v1/pods?fieldSelector=spec.nodeName=…`.
        case endpoint(url: URL, bearerTokenPath: String?)
    }

    public let id: SourceID
    public let scanRoot: String
    public let podList: PodList
    public let cpuManagerStatePath: String?
    public let cgroups: CgroupFS
    public let pollIntervalSeconds: Double

    public init(
        scanRoot: String = "/",
        podList: PodList = .none,
        cpuManagerStatePath: String? = "/var/lib/kubelet/cpu_manager_state",
        cgroups: CgroupFS = .detect(),
        pollIntervalSeconds: Double = 5
    ) {
        self.scanRoot = scanRoot
        self.podList = podList
        self.cpuManagerStatePath = cpuManagerStatePath
        self.cgroups = cgroups
        self.pollIntervalSeconds = pollIntervalSeconds
        self.id = SourceID(kind: .kubernetes, location: scanRoot == "/" ? "" : scanRoot)
    }

    /// The pod list as a pod sees it in a DaemonSet: the API server from `KUBERNETES_SERVICE_HOST` and `_PORT`, the
    /// mounted service-account token, this node from `NODE_NAME` (set from `spec.nodeName`). Outside a cluster, none.
    public static func podListFromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> PodList {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"] else { return .none }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        var query = ""
        if let node = environment["NODE_NAME"] { query = "?fieldSelector=spec.nodeName%3D\(node)" }
        guard let url = URL(string: "https://\(hostPart):\(port)/api/v1/pods\(query)") else { return .none }
        return .endpoint(url: url, bearerTokenPath: "/var/run/secrets/kubernetes.io/serviceaccount/token")
    }

    public func scan() async throws(DiscoveryError) -> SourceScan {
        var scan = SourceScan()
        let pods = try findPods()
        var metadata: [String: PodMetadata] = [:]
        if case let .endpoint(url, tokenPath) = podList, !pods.isEmpty {
            do throws(DiscoveryError) {
                metadata = try await fetchPodList(url: url, bearerTokenPath: tokenPath)
            } catch {
                scan.warnings.append(DiscoveryWarning(source: id, message: "pod list unavailable, pods are named by uid: \(error)"))
            }
        }
        var exclusive: [String: [Int]] = [:]
        if let path = cpuManagerStatePath, System.exists(path) {
            do throws(DiscoveryError) {
                exclusive = try CPUManagerState.exclusiveCoreIDsByPod(path: path)
                scan.reservedCoreIDs = Set(exclusive.values.joined()).sorted()
            } catch {
                scan.warnings.append(DiscoveryWarning(source: id, message: "CPU manager state unreadable: \(error)"))
            }
        }
        for pod in pods {
            guard let cgroupID = try? cgroups.cgroupID(pod.cgroupPath) else { continue }
            let known = metadata[pod.uid]
            let name = known.map { "\($0.namespace)/\($0.name)" } ?? "pod/\(pod.uid)"
            let (resources, resourceWarnings) = PodResources.of(known?.spec, pod: name, source: id)
            let (spec, warnings) = SpecLabels.spec(
                name: name, cgroupPath: pod.cgroupPath, defaultClass: pod.qos.tenantClass,
                defaultGuaranteed: resources.guaranteed, defaultCap: resources.cap,
                labels: SpecLabels.specLabels(known?.annotations ?? [:], prefix: SpecLabels.kubernetesPrefix),
                prefix: SpecLabels.kubernetesPrefix, source: id
            )
            scan.tenants.append(DiscoveredTenant(
                spec: spec, source: id, cgroupID: cgroupID, runtimeID: pod.uid, exclusiveCoreIDs: exclusive[pod.uid] ?? []
            ))
            scan.warnings += resourceWarnings + warnings
        }
        return scan
    }

    public func updates() -> AsyncStream<SourceUpdate> {
        PollingUpdates.stream(of: self, intervalSeconds: pollIntervalSeconds) { [self] in watchedDirectories() }
    }

    /// Where a pod appears or vanishes: the scan root and the driver and QoS levels under it (pod cgroups are their
    /// child directories), and the CPU manager's state file (the kubelet renames a new version into place).
    func watchedDirectories() -> [(directory: String, entries: KernelWatch.Entries)] {
        let qos: [QoS] = [.burstable, .besteffort]
        let systemd = ["/kubepods.slice"] + qos.map { "/kubepods.slice/kubepods-\($0.rawValue).slice" }
        let cgroupfs = ["/kubepods"] + qos.map { "/kubepods/\($0.rawValue)" }
        var watched: [(directory: String, entries: KernelWatch.Entries)] = []
        for level in [""] + systemd + cgroupfs { watched.append((directory: cgroups.directory(rootPrefix + level), entries: .directories)) }
        if let path = cpuManagerStatePath, let slash = path.lastIndex(of: "/") {
            watched.append((directory: String(path[..<slash]), entries: .named([String(path[path.index(after: slash)...])])))
        }
        return watched
    }

    /// `scanRoot` as a prefix of cgroup paths: "" for the root, else a path starting with "/".
    private var rootPrefix: String { scanRoot == "/" ? "" : (scanRoot.hasPrefix("/") ? scanRoot : "/" + scanRoot) }

    /// A pod as its cgroup shows it.
    struct PodCgroup: Hashable {
        var uid: String
        var qos: QoS
        var cgroupPath: String
    }

    enum QoS: String {
        case guaranteed, burstable, besteffort

        var tenantClass: TenantClass {
            switch self {
            case .guaranteed: .latencyCritical
            case .burstable: .burstable
            case .besteffort: .bestEffort
            }
        }
    }

    /// Every pod cgroup under `scanRoot`, under either driver.
    func findPods() throws(DiscoveryError) -> [PodCgroup] {
        let root = rootPrefix
        var pods: [PodCgroup] = []
        // systemd driver
        let systemdRoot = root + "/kubepods.slice"
        if System.isDirectory(cgroups.directory(systemdRoot)) {
            for child in try cgroups.childCgroups(systemdRoot) {
                let leaf = Self.lastComponent(child)
                if let uid = Self.systemdPodUID(leaf, prefix: "kubepods-pod") {
                    pods.append(PodCgroup(uid: uid, qos: .guaranteed, cgroupPath: child))
                } else if let qos = [QoS.burstable, .besteffort].first(where: { leaf == "kubepods-\($0.rawValue).slice" }) {
                    for podPath in try cgroups.childCgroups(child) {
                        guard let uid = Self.systemdPodUID(Self.lastComponent(podPath), prefix: "kubepods-\(qos.rawValue)-pod") else { continue }
                        pods.append(PodCgroup(uid: uid, qos: qos, cgroupPath: podPath))
                    }
                }
            }
        }
        // cgroupfs driver
        let cgroupfsRoot = root + "/kubepods"
        if System.isDirectory(cgroups.directory(cgroupfsRoot)) {
            for child in try cgroups.childCgroups(cgroupfsRoot) {
                let leaf = Self.lastComponent(child)
                if leaf.hasPrefix("pod") {
                    pods.append(PodCgroup(uid: String(leaf.dropFirst(3)), qos: .guaranteed, cgroupPath: child))
                } else if let qos = QoS(rawValue: leaf), qos != .guaranteed {
                    for podPath in try cgroups.childCgroups(child) where Self.lastComponent(podPath).hasPrefix("pod") {
                        pods.append(PodCgroup(uid: String(Self.lastComponent(podPath).dropFirst(3)), qos: qos, cgroupPath: podPath))
                    }
                }
            }
        }
        return pods
    }

    /// `kubepods-burstable-pod12_34.slice` with prefix `kubepods-burstable-pod` → `12-34`.
    static func systemdPodUID(_ name: String, prefix: String) -> String? {
        guard name.hasPrefix(prefix), name.hasSuffix(".slice") else { return nil }
        return String(name.dropFirst(prefix.count).dropLast(".slice".count)).replacingOccurrences(of: "_", with: "-")
    }

    private static func lastComponent(_ path: String) -> String { path.split(separator: "/").last.map(String.init) ?? path }

    struct PodMetadata {
        var namespace: String
        var name: String
        var annotations: [String: String]
        var spec: PodSpec?
    }

    /// Fetches a `PodList` and indexes it by pod uid.
    private func fetchPodList(url: URL, bearerTokenPath: String?) async throws(DiscoveryError) -> [String: PodMetadata] {
        var request = URLRequest(url: url, timeoutInterval: 5)
        if let bearerTokenPath {
            let token = try System.readText(bearerTokenPath).trimmingCharacters(in: .whitespacesAndNewlines)
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw .malformedResponse(endpoint: url.absoluteString, path: "", reason: "request failed: \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            throw .http(endpoint: url.absoluteString, path: "", status: status, body: String(decoding: data, as: UTF8.self))
        }
        let list: KubernetesPodList
        do {
            list = try JSONDecoder().decode(KubernetesPodList.self, from: data)
        } catch {
            throw .malformedResponse(endpoint: url.absoluteString, path: "", reason: "not a PodList: \(error)")
        }
        var byUID: [String: PodMetadata] = [:]
        for item in list.items {
            byUID[item.metadata.uid] = PodMetadata(
                namespace: item.metadata.namespace ?? "default", name: item.metadata.name, annotations: item.metadata.annotations ?? [:], spec: item.spec
            )
        }
        return byUID
    }
}

private struct KubernetesPodList: Decodable {
    struct Item: Decodable {
        struct Metadata: Decodable {
            var name: String
            var namespace: String?
            var uid: String
            var annotations: [String: String]?
        }
        var metadata: Metadata
        var spec: PodSpec?
    }
    var items: [Item]
}

/// The kubelet CPU manager's checkpoint (`/var/lib/kubelet/cpu_manager_state`).
enum CPUManagerState {
    /// Exclusive CPUs per pod uid under the static policy; empty under `none`.
    static func exclusiveCoreIDsByPod(path: String) throws(DiscoveryError) -> [String: [Int]] {
        struct State: Decodable {
            var policyName: String
            var entries: [String: [String: String]]?
        }
        let state: State
        do {
            state = try JSONDecoder().decode(State.self, from: Data(try System.readFile(path)))
        } catch let error as DiscoveryError {
            throw error
        } catch {
            throw .config(location: path, field: "", reason: "not a CPU manager checkpoint: \(error)")
        }
        guard state.policyName == "static" else { return [:] }
        var result: [String: [Int]] = [:]
        for (podUID, containers) in state.entries ?? [:] {
            var cores = Set<Int>()
            for (container, list) in containers {
                guard let ids = CPUSet(listFormat: list)?.members else {
                    throw .config(location: path, field: "entries.\(podUID).\(container)", reason: "\(list) is not a CPU list")
                }
                cores.formUnion(ids)
            }
            result[podUID] = cores.sorted()
        }
        return result
    }
}
