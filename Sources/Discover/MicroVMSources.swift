import Dispatch
import Foundation
import Pool

/// QEMU virtual machines found through their QMP sockets.
///
/// For each socket: the QEMU process is the socket's peer (`SO_PEERCRED`), `query-cpus-fast` gives each vCPU's host
/// thread id and `query-name` the VM's name. Each VM is a tenant named `qemu/<name>` (the socket's file name when the
/// VM has none) in its process's cgroup, class `burstable`, with `pinnedThreadIDs` = its vCPU threads in vCPU order, so
/// Enforce can pin them one by one. A socket that cannot be reached is reported as a warning; the others still count.
public struct QEMUSource: TenantSource {
    public let qmpSocketPaths: [String]
    public let id: SourceID
    public let cgroups: CgroupFS
    public let pollIntervalSeconds: Double

    public init(qmpSocketPaths: [String], cgroups: CgroupFS = .detect(), pollIntervalSeconds: Double = 1) {
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
                let machine = try result.get()
                let name = "qemu/" + (machine.name ?? (path.split(separator: "/").last.map(String.init) ?? path))
                let cgroupPath = try cgroups.cgroupPath(ofProcess: machine.processID)
                let spec = TenantSpec(name: name, cgroupPath: cgroupPath, tenantClass: .burstable, pinnedThreadIDs: machine.vcpuThreadIDs)
                scan.tenants.append(DiscoveredTenant(
                    spec: spec, source: id, cgroupID: try cgroups.cgroupID(cgroupPath), processID: machine.processID, runtimeID: path
                ))
            } catch {
                scan.warnings.append(DiscoveryWarning(source: id, tenant: path, message: "QEMU at \(path) cannot be queried: \(error)"))
            }
        }
        return scan
    }

    public func updates() -> AsyncStream<SourceUpdate> {
        PollingUpdates.stream(of: self, intervalSeconds: pollIntervalSeconds)
    }
}

/// What QMP tells about one VM.
struct QMPMachine {
    var processID: Int32
    var name: String?
    var vcpuThreadIDs: [Int32]

    /// Connects, negotiates capabilities, asks `query-cpus-fast` and `query-name`, and disconnects (blocking).
    static func query(socketPath: String, timeoutSeconds: Int = 2) throws(DiscoveryError) -> QMPMachine {
        let socket = try UnixSocket(connectingTo: socketPath, timeoutSeconds: timeoutSeconds)
        let processID = try socket.peerProcessID()
        guard let greeting = try socket.readLine(), (try? JSONSerialization.jsonObject(with: Data(greeting)) as? [String: Any])?["QMP"] != nil else {
            throw .malformedResponse(endpoint: socketPath, path: "greeting", reason: "no QMP greeting")
        }
        _ = try execute("qmp_capabilities", on: socket)
        guard let cpus = try execute("query-cpus-fast", on: socket) as? [[String: Any]] else {
            throw .malformedResponse(endpoint: socketPath, path: "query-cpus-fast", reason: "return is not a list of CPUs")
        }
        let threads = cpus.compactMap { cpu -> (index: Int, thread: Int32)? in
            guard let index = (cpu["cpu-index"] as? NSNumber)?.intValue, let thread = (cpu["thread-id"] as? NSNumber)?.int32Value else { return nil }
            return (index, thread)
        }
        let name = (try? execute("query-name", on: socket) as? [String: Any])?["name"] as? String
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
