import Foundation
import Pool

/// Containers of a Docker Engine (or podman's Docker-compatible service) reached over its unix socket.
///
/// Each running container is a tenant named after the container (a Swarm task after its task name), in the v2
/// cgroup of its main process (`/proc/PID/cgroup`), with class and limits from its `dpm.*` labels (`SpecLabels`;
/// default class `burstable`). `updates()` follows `/events`: `start` adds the container, `die` and `destroy`
/// retire it, so a change reaches the table within the time of one inspect. A container that exits while it is
/// inspected is skipped. When the engine cannot be reached the source reports `.unavailable` and retries every
/// `retrySeconds`.
///
/// Swarm: tasks carrying `com.docker.swarm.service.name` share their service's spec: the `dpm.*` labels of the
/// service object (`/services/NAME`, on a manager) or, where the engine has no Swarm service (a worker, podman), of
/// the first task seen; a task whose own `dpm.*` labels differ is warned about and gets the service's spec.
public struct DockerSource: TenantSource {
    public let socketPath: String
    public let id: SourceID
    public let cgroups: CgroupFS
    public let retrySeconds: Double
    private let client: UnixHTTPClient
    private let services = ServiceSpecCache()

    static let apiVersion = "/v1.41"
    static let serviceLabel = "com.docker.swarm.service.name"
    static let taskLabel = "com.docker.swarm.task.name"

    public init(socketPath: String = "/var/run/docker.sock", cgroups: CgroupFS = .detect(), retrySeconds: Double = 1, requestTimeoutSeconds: Int = 5) {
        self.socketPath = socketPath
        self.id = SourceID(kind: .docker, location: socketPath)
        self.cgroups = cgroups
        self.retrySeconds = retrySeconds
        self.client = UnixHTTPClient(socketPath: socketPath, timeoutSeconds: requestTimeoutSeconds)
    }

    public func scan() async throws(DiscoveryError) -> SourceScan {
        services.removeAll()
        let listPath = "\(Self.apiVersion)/containers/json"
        let summaries: [ContainerSummary] = try decode(try await client.get(listPath), path: listPath)
        var scan = SourceScan()
        for summary in summaries.sorted(by: { ($0.Created ?? 0, $0.Id) < ($1.Created ?? 0, $1.Id) }) {
            guard let (tenant, warnings) = try await inspect(containerID: summary.Id) else { continue }
            scan.tenants.append(tenant)
            scan.warnings += warnings
        }
        return scan
    }

    public func updates() -> AsyncStream<SourceUpdate> {
        AsyncStream { continuation in
            let task = Task {
                var failing = false
                while !Task.isCancelled {
                    do throws(DiscoveryError) {
                        try await follow(into: continuation) { failing = false }
                    } catch {
                        if !failing { continuation.yield(.unavailable(error)) }
                        failing = true
                    }
                    try? await Task.sleep(for: .seconds(retrySeconds))
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Opens the event stream, then takes a full snapshot, then applies events until the stream ends or the task is
    /// cancelled. Opening the stream first means no start or stop between the two is lost; applying an event twice
    /// is harmless.
    private func follow(into continuation: AsyncStream<SourceUpdate>.Continuation, onSnapshot: () -> Void) async throws(DiscoveryError) {
        let (lines, lineContinuation) = AsyncStream.makeStream(of: Result<[UInt8], DiscoveryError>.self)
        let filter = #"{"type":["container"]}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let handle = client.follow(
            "\(Self.apiVersion)/events?filters=\(filter)",
            onLine: { lineContinuation.yield(.success($0)) },
            onEnd: { error in
                if let error { lineContinuation.yield(.failure(error)) }
                lineContinuation.finish()
            }
        )
        defer { handle.stop() }
        let snapshot = try await scan()
        var namesByContainerID = Dictionary(snapshot.tenants.map { ($0.runtimeID, $0.name) }, uniquingKeysWith: { first, _ in first })
        continuation.yield(.snapshot(snapshot))
        onSnapshot()
        let end: DiscoveryError? = await withTaskCancellationHandler {
            for await line in lines {
                let bytes: [UInt8]
                switch line {
                case let .success(value): bytes = value
                case let .failure(error): return error
                }
                guard let event = try? JSONDecoder().decode(EngineEvent.self, from: Data(bytes)),
                      event.type == "container", let containerID = event.containerID else { continue }
                switch event.action {
                case "start":
                    do throws(DiscoveryError) {
                        guard let (tenant, warnings) = try await inspect(containerID: containerID) else { continue }
                        namesByContainerID[containerID] = tenant.name
                        continuation.yield(.added(tenant))
                        for warning in warnings { continuation.yield(.warning(warning)) }
                    } catch {
                        continuation.yield(.warning(DiscoveryWarning(source: id, tenant: containerID, message: "cannot inspect a started container: \(error)")))
                    }
                case "die", "destroy", "remove":
                    if let name = namesByContainerID.removeValue(forKey: containerID) { continuation.yield(.retired(name: name)) }
                default:
                    continue
                }
            }
            return nil
        } onCancel: {
            handle.stop()
        }
        if let end { throw end }
    }

    /// The tenant for one container, or nil when it is not running (it exited, perhaps during this very inspection).
    private func inspect(containerID: String) async throws(DiscoveryError) -> (DiscoveredTenant, [DiscoveryWarning])? {
        let path = "\(Self.apiVersion)/containers/\(containerID)/json"
        let details: ContainerDetails
        do throws(DiscoveryError) {
            details = try decode(try await client.get(path), path: path)
        } catch where error.isGone {
            return nil
        }
        guard details.State.Running == true, let processID = details.State.Pid, processID > 0 else { return nil }
        let cgroupPath: String
        let cgroupID: UInt64
        do throws(DiscoveryError) {
            cgroupPath = try cgroups.cgroupPath(ofProcess: processID)
            cgroupID = try cgroups.cgroupID(cgroupPath)
        } catch where error.isGone {
            return nil
        }
        let labels = details.Config.Labels ?? [:]
        var name = String(details.Name.drop(while: { $0 == "/" }))
        var specLabels = SpecLabels.specLabels(labels, prefix: SpecLabels.dockerPrefix)
        var warnings: [DiscoveryWarning] = []
        if let service = labels[Self.serviceLabel] {
            name = labels[Self.taskLabel] ?? name
            let serviceLabels = await serviceSpecLabels(service: service, firstTaskLabels: specLabels)
            if serviceLabels != specLabels {
                warnings.append(DiscoveryWarning(source: id, tenant: name, message: "dpm labels differ from those of service \(service); using the service's"))
            }
            specLabels = serviceLabels
        }
        let (spec, specWarnings) = SpecLabels.spec(
            name: name, cgroupPath: cgroupPath, defaultClass: .burstable,
            labels: specLabels, prefix: SpecLabels.dockerPrefix, source: id
        )
        let tenant = DiscoveredTenant(spec: spec, source: id, cgroupID: cgroupID, processID: processID, runtimeID: details.Id)
        return (tenant, warnings + specWarnings)
    }

    /// The `dpm.*` labels every task of a Swarm service shares (see the type's documentation).
    private func serviceSpecLabels(service: String, firstTaskLabels: [String: String]) async -> [String: String] {
        if let known = services[service] { return known }
        let path = "\(Self.apiVersion)/services/\(service.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? service)"
        var labels = firstTaskLabels
        if let body = try? await client.get(path), let object = try? JSONDecoder().decode(SwarmService.self, from: Data(body)) {
            let all = (object.Spec.TaskTemplate?.ContainerSpec?.Labels ?? [:]).merging(object.Spec.Labels ?? [:]) { _, service in service }
            labels = SpecLabels.specLabels(all, prefix: SpecLabels.dockerPrefix)
        }
        return services.insertIfAbsent(service, labels)
    }

    private func decode<T: Decodable>(_ body: [UInt8], path: String) throws(DiscoveryError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            throw .malformedResponse(endpoint: socketPath, path: path, reason: "\(error)")
        }
    }
}

/// Swarm services' shared `dpm.*` labels, by service name; shared by the scans and the event follower of a source.
private final class ServiceSpecCache: @unchecked Sendable {
    private let lock = NSLock()
    private var labelsByService: [String: [String: String]] = [:]

    subscript(service: String) -> [String: String]? { lock.withLock { labelsByService[service] } }

    /// Stores `labels` unless another task got there first; returns what is stored.
    func insertIfAbsent(_ service: String, _ labels: [String: String]) -> [String: String] {
        lock.withLock {
            if let known = labelsByService[service] { return known }
            labelsByService[service] = labels
            return labels
        }
    }

    func removeAll() { lock.withLock { labelsByService.removeAll() } }
}

// The Engine API's JSON, only the fields used (names as the API spells them).
private struct ContainerSummary: Decodable {
    var Id: String
    var Created: Int64?
}

private struct ContainerDetails: Decodable {
    struct State: Decodable {
        var Running: Bool?
        var Pid: Int32?
    }
    struct Config: Decodable {
        var Labels: [String: String]?
    }
    var Id: String
    var Name: String
    var State: State
    var Config: Config
}

private struct SwarmService: Decodable {
    struct Spec: Decodable {
        struct TaskTemplate: Decodable {
            struct ContainerSpec: Decodable { var Labels: [String: String]? }
            var ContainerSpec: ContainerSpec?
        }
        var Labels: [String: String]?
        var TaskTemplate: TaskTemplate?
    }
    var Spec: Spec
}

private struct EngineEvent: Decodable {
    struct Actor: Decodable { var ID: String? }
    var type: String?
    var action: String?
    var id: String?
    var actor: Actor?

    enum CodingKeys: String, CodingKey {
        case type = "Type", action = "Action", status, id, actor = "Actor"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decodeIfPresent(String.self, forKey: .type)
        // Old engines send only "status"; new ones "Action" (which may carry a suffix such as "exec_start: sh").
        action = try container.decodeIfPresent(String.self, forKey: .action) ?? container.decodeIfPresent(String.self, forKey: .status)
        id = try container.decodeIfPresent(String.self, forKey: .id)
        actor = try container.decodeIfPresent(Actor.self, forKey: .actor)
    }

    var containerID: String? { actor?.ID ?? id }
}
