import Dispatch
import Foundation
import Pool

/// QEMU virtual machines found through their QMP sockets.
///
/// For each socket: the QEMU process is the socket's peer (`SO_PEERCRED`), `query-cpus-fast` gives each vCPU's host
/// thread id and `query-name` the VM's name. Each VM is a tenant named `qemu/<name>` (the socket's file name when the
/// VM has none) in its process's cgroup, class `burstable`, with `pinnedThreadIDs` = its vCPU threads in vCPU order, so
/// Enforce can pin them one by one. A socket that cannot be reached is reported as a warning; the others still count.
///
/// Followed by events: `updates()` keeps one QMP connection per VM open and reads QEMU's own messages on it. The
/// connection's end (QEMU exited) retires the VM at once, any QMP event (a vCPU hot-plugged, a reset) has it asked
/// again, and inotify on the sockets' directories catches a socket created (a VM started) or removed. A look every
/// `pollIntervalSeconds` (default 5) is the fallback. QEMU serves one QMP client per socket: while a source follows
/// a VM, `scan()` from elsewhere waits for its turn (and times out).
public struct QEMUSource: TenantSource {
    public let qmpSocketPaths: [String]
    public let id: SourceID
    public let cgroups: CgroupFS
    public let pollIntervalSeconds: Double

    public init(qmpSocketPaths: [String], cgroups: CgroupFS = .detect(), pollIntervalSeconds: Double = 5) {
        self.qmpSocketPaths = qmpSocketPaths
        self.id = SourceID(kind: .microVM, location: qmpSocketPaths.joined(separator: ","))
        self.cgroups = cgroups
        self.pollIntervalSeconds = pollIntervalSeconds
    }

    public func scan() async throws(DiscoveryError) -> SourceScan {
        var scan = SourceScan()
        for path in qmpSocketPaths {
            let result: Result<QMPMachine, DiscoveryError> = await withCheckedContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(returning: Result { () throws(DiscoveryError) in try QMPMachine.query(socketPath: path) }) }
            }
            do throws(DiscoveryError) {
                scan.tenants.append(try tenant(try result.get(), socketPath: path))
            } catch {
                scan.warnings.append(unreachable(path, error))
            }
        }
        return scan
    }

    public func updates() -> AsyncStream<SourceUpdate> {
        let watch: KernelWatch
        do throws(DiscoveryError) {
            watch = try KernelWatch()
        } catch {
            return PollingUpdates.stream(of: self, intervalSeconds: pollIntervalSeconds)
        }
        return AsyncStream { continuation in
            let thread = Thread { [self] in
                follow(watch: watch, into: continuation)
                continuation.finish()
            }
            thread.name = "dpm-discover-qmp"
            thread.start()
            continuation.onTermination = { _ in watch.stop() }
        }
    }

    /// The follower's loop (blocking, on its own thread): look at every VM over its kept connection (connecting the
    /// missing ones), report what changed, then sleep until a socket directory changes, a connection has something to
    /// say, the fallback interval passes, or the stream is stopped.
    private func follow(watch: KernelWatch, into continuation: AsyncStream<SourceUpdate>.Continuation) {
        var connections: [String: QMPConnection] = [:]
        var last: SourceScan?
        while true {
            for path in qmpSocketPaths {
                let (directory, name) = Self.split(path)
                watch.add(directory, entries: .named([name]))
            }
            var scan = SourceScan()
            for path in qmpSocketPaths {
                do throws(DiscoveryError) {
                    let connection: QMPConnection
                    if let kept = connections[path] { connection = kept } else { connection = try QMPConnection(socketPath: path) }
                    connections[path] = connection
                    scan.tenants.append(try tenant(try connection.machine(), socketPath: path))
                } catch {
                    connections[path] = nil
                    scan.warnings.append(unreachable(path, error))
                }
            }
            if scan != last { continuation.yield(.snapshot(scan)) }
            last = scan
            // A socket that is there but does not answer yet (QEMU still starting, or killed): ask again soon.
            let starting = qmpSocketPaths.contains { connections[$0] == nil && System.exists($0) }
            let timeout = starting ? min(pollIntervalSeconds, 0.25) : pollIntervalSeconds
            switch watch.wait(timeoutSeconds: timeout, alsoReadable: connections.values.map(\.descriptor)) {
            case .stopped:
                return
            case .timedOut:
                continue
            case let .changed(readable):
                // An event is read and answered by asking again; the end of the stream means QEMU is gone.
                for (path, connection) in connections where readable.contains(connection.descriptor) {
                    if (try? connection.readMessage()) != true { connections[path] = nil }
                }
            }
        }
    }

    /// The tenant of one VM.
    private func tenant(_ machine: QMPMachine, socketPath path: String) throws(DiscoveryError) -> DiscoveredTenant {
        let name = "qemu/" + (machine.name ?? Self.split(path).name)
        let cgroupPath = try cgroups.cgroupPath(ofProcess: machine.processID)
        let spec = TenantSpec(name: name, cgroupPath: cgroupPath, tenantClass: .burstable, pinnedThreadIDs: machine.vcpuThreadIDs)
        return DiscoveredTenant(spec: spec, source: id, cgroupID: try cgroups.cgroupID(cgroupPath), processID: machine.processID, runtimeID: path)
    }

    private func unreachable(_ path: String, _ error: DiscoveryError) -> DiscoveryWarning {
        DiscoveryWarning(source: id, tenant: path, message: "QEMU at \(path) cannot be queried: \(error)")
    }

    /// `/run/vm1.qmp` → (`/run`, `vm1.qmp`); a bare name lives in the current directory.
    private static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        return (slash == path.startIndex ? "/" : String(path[..<slash]), String(path[path.index(after: slash)...]))
    }
}

/// What QMP tells about one VM.
struct QMPMachine {
    var processID: Int32
    var name: String?
    var vcpuThreadIDs: [Int32]

    /// Connects, negotiates capabilities, asks `query-cpus-fast` and `query-name`, and disconnects (blocking).
    static func query(socketPath: String) throws(DiscoveryError) -> QMPMachine {
        try QMPConnection(socketPath: socketPath).machine()
    }
}

/// A QMP connection past its greeting and capability negotiation (blocking; each read and write bounded by the
/// timeout). QEMU sends events on it unasked from then on.
final class QMPConnection {
    private let socket: UnixSocket
    private let processID: Int32

    init(socketPath: String, timeoutSeconds: Int = 2) throws(DiscoveryError) {
        socket = try UnixSocket(connectingTo: socketPath, timeoutSeconds: timeoutSeconds)
        processID = try socket.peerProcessID()
        guard let greeting = try socket.readLine(), (try? JSONSerialization.jsonObject(with: Data(greeting)) as? [String: Any])?["QMP"] != nil else {
            throw .malformedResponse(endpoint: socketPath, path: "greeting", reason: "no QMP greeting")
        }
        _ = try Self.execute("qmp_capabilities", on: socket)
    }

    /// The descriptor to wait on for QEMU's own messages.
    var descriptor: Int32 { socket.descriptor }

    /// Reads one message QEMU sent unasked (an event); false at the end of the stream (QEMU exited).
    func readMessage() throws(DiscoveryError) -> Bool { try socket.readLine() != nil }

    /// Asks `query-cpus-fast` and `query-name`.
    func machine() throws(DiscoveryError) -> QMPMachine {
        guard let cpus = try Self.execute("query-cpus-fast", on: socket) as? [[String: Any]] else {
            throw .malformedResponse(endpoint: socket.path, path: "query-cpus-fast", reason: "return is not a list of CPUs")
        }
        let threads = cpus.compactMap { cpu -> (index: Int, thread: Int32)? in
            guard let index = (cpu["cpu-index"] as? NSNumber)?.intValue, let thread = (cpu["thread-id"] as? NSNumber)?.int32Value else { return nil }
            return (index, thread)
        }
        let name = (try? Self.execute("query-name", on: socket) as? [String: Any])?["name"] as? String
        return QMPMachine(processID: processID, name: name, vcpuThreadIDs: threads.sorted { $0.index < $1.index }.map(\.thread))
    }

    /// Sends one command and returns its `return` value, skipping asynchronous events.
    private static func execute(_ command: String, on socket: UnixSocket) throws(DiscoveryError) -> Any {
        try socket.write("{\"execute\":\"\(command)\"}\n")
        while let line = try socket.readLine() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw .malformedResponse(endpoint: socket.path, path: command, reason: "not JSON: \(String(decoding: line.prefix(80), as: UTF8.self))")
            }
            if let value = object["return"] { return value }
            if let error = object["error"] as? [String: Any] {
                throw .malformedResponse(endpoint: socket.path, path: command, reason: "QMP error \(error["class"] ?? ""): \(error["desc"] ?? "")")
            }
        }
        throw .malformedResponse(endpoint: socket.path, path: command, reason: "connection closed before the answer")
    }
}

/// Firecracker and Cloud Hypervisor VMs found by their vCPU thread names.
///
/// Scans `/proc/PID/task/TID/comm`: Firecracker names its vCPU threads `fc_vcpu N`, Cloud Hypervisor `vcpuN`. Every
/// process with such threads is a tenant named `firecracker/<id>` (its `--id` argument, else its pid) or
/// `cloud-hypervisor/<pid>`, in its process's cgroup, class `burstable`, `pinnedThreadIDs` in vCPU order.
public struct VCPUThreadSource: TenantSource {
    public let id = SourceID(kind: .microVM, location: "vcpu-threads")
    public let cgroups: CgroupFS
    public let procRoot: String
    public let pollIntervalSeconds: Double

    public init(cgroups: CgroupFS = .detect(), procRoot: String = "/proc", pollIntervalSeconds: Double = 1) {
        self.cgroups = cgroups
        self.procRoot = procRoot
        self.pollIntervalSeconds = pollIntervalSeconds
    }

    public func scan() async throws(DiscoveryError) -> SourceScan {
        var scan = SourceScan()
        let processIDs = try System.listDirectory(procRoot).compactMap { Int32($0) }.sorted()
        for processID in processIDs {
            // A process or thread that exits mid-scan is simply not a VM any more.
            guard let threadIDs = try? System.listDirectory("\(procRoot)/\(processID)/task").compactMap({ Int32($0) }) else { continue }
            var hypervisor: String?
            var vcpus: [(index: Int, thread: Int32)] = []
            for threadID in threadIDs {
                guard let comm = try? System.readText("\(procRoot)/\(processID)/task/\(threadID)/comm") else { continue }
                guard let (kind, index) = Self.vcpu(threadName: comm.trimmingCharacters(in: .newlines)) else { continue }
                hypervisor = kind
                vcpus.append((index, threadID))
            }
            guard let hypervisor, !vcpus.isEmpty,
                  let cgroupPath = try? cgroups.cgroupPath(ofProcess: processID),
                  let cgroupID = try? cgroups.cgroupID(cgroupPath) else { continue }
            let name = "\(hypervisor)/\(hypervisor == "firecracker" ? firecrackerID(processID) ?? String(processID) : String(processID))"
            let spec = TenantSpec(name: name, cgroupPath: cgroupPath, tenantClass: .burstable, pinnedThreadIDs: vcpus.sorted { $0.index < $1.index }.map(\.thread))
            scan.tenants.append(DiscoveredTenant(spec: spec, source: id, cgroupID: cgroupID, processID: processID, runtimeID: String(processID)))
        }
        return scan
    }

    public func updates() -> AsyncStream<SourceUpdate> {
        PollingUpdates.stream(of: self, intervalSeconds: pollIntervalSeconds)
    }

    /// `fc_vcpu 3` → (firecracker, 3); `vcpu3` → (cloud-hypervisor, 3); anything else → nil.
    static func vcpu(threadName: String) -> (hypervisor: String, index: Int)? {
        if threadName.hasPrefix("fc_vcpu "), let index = Int(threadName.dropFirst("fc_vcpu ".count)) { return ("firecracker", index) }
        if threadName.hasPrefix("vcpu"), let index = Int(threadName.dropFirst("vcpu".count)) { return ("cloud-hypervisor", index) }
        return nil
    }

    /// Firecracker's `--id VALUE` from its command line.
    private func firecrackerID(_ processID: Int32) -> String? {
        guard let bytes = try? System.readFile("\(procRoot)/\(processID)/cmdline") else { return nil }
        let arguments = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let flag = arguments.firstIndex(of: "--id"), flag + 1 < arguments.count else { return nil }
        return arguments[flag + 1]
    }
}
