import Discover
import Foundation
import Pool
import Testing

/// Kubernetes discovery from real cgroup trees (both kubelet drivers, real processes inside), with the pod list
/// served by a local test server from a recorded API answer, and a kubelet CPU manager checkpoint.
@Suite(.serialized)
struct DiscoverKubernetesTests {
    /// A kubelet `/pods` answer, recorded and trimmed to the fields dpm reads (names, annotations, containers'
    /// resource requests and limits) plus a few it must ignore.
    static let recordedPodList = #"""
    {"kind":"PodList","apiVersion":"v1","metadata":{},"items":[
     {"metadata":{"name":"checkout-7d9f","namespace":"shop","uid":"1111aaaa-2222-3333-4444-555566667777",
       "annotations":{"dpm.io/slo.runq-p99":"1ms","dpm.io/memory.max":"lots","kubernetes.io/config.seen":"2026-11-29T20:00:00Z"}},
      "spec":{"nodeName":"node-a","containers":[
        {"name":"app","image":"shop/checkout:4.2","resources":{"requests":{"cpu":"500m","memory":"256Mi"},"limits":{"cpu":"2","memory":"1Gi"}}},
        {"name":"istio-proxy","resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"cpu":"1","memory":"512Mi"}}}]},
      "status":{"phase":"Running","qosClass":"Burstable"}},
     {"metadata":{"name":"db-0","namespace":"shop","uid":"88889999-aaaa-bbbb-cccc-ddddeeeeffff",
       "annotations":{"dpm.io/cpu.min":"1"}},
      "spec":{"nodeName":"node-a","containers":[{"name":"postgres","resources":{"requests":{"cpu":"2","memory":"4Gi"},"limits":{"cpu":"2","memory":"4Gi"}}}]},
      "status":{"phase":"Running","qosClass":"Guaranteed"}},
     {"metadata":{"name":"batch-x","namespace":"jobs","uid":"0000ffff-1111-2222-3333-444455556666",
       "annotations":{"dpm.io/class":"latency-critical"}},
      "spec":{"nodeName":"node-a","containers":[{"name":"worker"}]},
      "status":{"phase":"Running","qosClass":"BestEffort"}}
    ]}
    """#

    /// The trees: systemd driver under one test root, cgroupfs under another; one process in each container.
    struct Trees {
        let systemd: TestCgroup
        let cgroupfs: TestCgroup
        let burstablePod: String
        let guaranteedPod: String
        let bestEffortPod: String

        init(cgroups: CgroupFS) throws {
            systemd = try TestCgroup(cgroups: cgroups)
            cgroupfs = try TestCgroup(cgroups: cgroups)
            burstablePod = try systemd.makeChild("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1111aaaa_2222_3333_4444_555566667777.slice")
            try systemd.startProcess(in: try systemd.makeChild(String(burstablePod.dropFirst(systemd.path.count + 1)) + "/cri-containerd-0123abcd.scope"))
            guaranteedPod = try systemd.makeChild("kubepods.slice/kubepods-pod88889999_aaaa_bbbb_cccc_ddddeeeeffff.slice")
            try systemd.startProcess(in: try systemd.makeChild(String(guaranteedPod.dropFirst(systemd.path.count + 1)) + "/cri-containerd-4567cdef.scope"))
            bestEffortPod = try cgroupfs.makeChild("kubepods/besteffort/pod0000ffff-1111-2222-3333-444455556666")
            try cgroupfs.startProcess(in: try cgroupfs.makeChild("kubepods/besteffort/pod0000ffff-1111-2222-3333-444455556666/89abef01"))
        }

        func remove() {
            systemd.remove()
            cgroupfs.remove()
        }
    }

    @Test func podsAreFoundUnderBothDriversNamedAndAnnotatedFromThePodList() async throws {
        let cgroups = CgroupFS.detect()
        let trees = try Trees(cgroups: cgroups)
        defer { trees.remove() }
        let server = try RecordedHTTPServer(body: Self.recordedPodList)
        defer { server.stop() }
        let directory = NSTemporaryDirectory() + discoverRandomName()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "secret-token\n".write(toFile: directory + "/token", atomically: true, encoding: .utf8)
        try #"{"policyName":"static","defaultCpuSet":"0","entries":{"88889999-aaaa-bbbb-cccc-ddddeeeeffff":{"postgres":"1"}},"checksum":1}"#
            .write(toFile: directory + "/cpu_manager_state", atomically: true, encoding: .utf8)
        let podList = KubernetesSource.PodList.endpoint(url: URL(string: "http://127.0.0.1:\(server.port)/pods")!, bearerTokenPath: directory + "/token")

        var tenants: [String: DiscoveredTenant] = [:]
        var warnings: [DiscoveryWarning] = []
        for root in [trees.systemd.path, trees.cgroupfs.path] {
            let scan = try await KubernetesSource(scanRoot: root, podList: podList, cpuManagerStatePath: directory + "/cpu_manager_state", cgroups: cgroups).scan()
            for tenant in scan.tenants { tenants[tenant.name] = tenant }
            warnings += scan.warnings
            #expect(scan.reservedCoreIDs == [1])
        }
        #expect(server.requests.allSatisfy { $0.path == "/pods" && $0.authorization == "Bearer secret-token" })

        let checkout = try #require(tenants["shop/checkout-7d9f"])
        #expect(checkout.spec.cgroupPath == trees.burstablePod)
        #expect(checkout.spec.tenantClass == .burstable)
        #expect(checkout.spec.slo.runQueueWaitP99Nanoseconds == 1_000_000)
        // Requests and limits summed over both containers; the malformed memory.max annotation keeps the limits' cap.
        #expect(abs(checkout.spec.guaranteed.cpuCores - 0.6) < 1e-12)
        #expect(checkout.spec.guaranteed.memoryBytes == 384 * 1_048_576)
        #expect(checkout.spec.cap.cpuCores == 3)
        #expect(checkout.spec.cap.memoryBytes == 1536 * 1_048_576)
        #expect(warnings.contains { $0.tenant == "shop/checkout-7d9f" && $0.message.contains("dpm.io/memory.max=lots") })
        #expect(checkout.cgroupID == (try cgroups.cgroupID(trees.burstablePod)))
        #expect(try cgroups.processIDsRecursively(checkout.spec.cgroupPath).count == 1)

        let database = try #require(tenants["shop/db-0"])
        #expect(database.spec.cgroupPath == trees.guaranteedPod)
        #expect(database.spec.tenantClass == .latencyCritical)
        #expect(database.spec.guaranteed.cpuCores == 1)  // the annotation overrides the request of 2
        #expect(database.spec.guaranteed.memoryBytes == 4 * 1_073_741_824)
        #expect(database.spec.cap.cpuCores == 2)
        #expect(database.spec.cap.memoryBytes == 4 * 1_073_741_824)
        #expect(database.exclusiveCoreIDs == [1])

        let batch = try #require(tenants["jobs/batch-x"])
        #expect(batch.spec.cgroupPath == trees.bestEffortPod)
        #expect(batch.spec.tenantClass == .latencyCritical)  // the annotation overrides BestEffort QoS
        #expect(batch.spec.guaranteed == .zero)
        #expect(batch.spec.cap.cpuCores == .infinity)
        #expect(tenants.count == 3)
    }

    @Test func withoutThePodListPodsAreNamedByUIDAndClassedByQoS() async throws {
        let cgroups = CgroupFS.detect()
        let trees = try Trees(cgroups: cgroups)
        defer { trees.remove() }
        // A port that nothing listens on: take one from the kernel and close it again.
        let port = try RecordedHTTPServer(body: "").stopAndReturnPort()
        let podList = KubernetesSource.PodList.endpoint(url: URL(string: "http://127.0.0.1:\(port)/pods")!, bearerTokenPath: nil)
        let scan = try await KubernetesSource(scanRoot: trees.systemd.path, podList: podList, cpuManagerStatePath: nil, cgroups: cgroups).scan()
        #expect(Set(scan.tenants.map(\.name)) == ["pod/1111aaaa-2222-3333-4444-555566667777", "pod/88889999-aaaa-bbbb-cccc-ddddeeeeffff"])
        #expect(scan.tenants.first { $0.runtimeID.hasPrefix("8888") }?.spec.tenantClass == .latencyCritical)
        #expect(scan.tenants.first { $0.runtimeID.hasPrefix("1111") }?.spec.tenantClass == .burstable)
        #expect(scan.warnings.contains { $0.message.contains("pod list unavailable") })
    }

    @Test func aVanishedPodIsRetiredByTheFollowingSource() async throws {
        let cgroups = CgroupFS.detect()
        let root = try TestCgroup(cgroups: cgroups)
        defer { root.remove() }
        let pod = try root.makeChild("kubepods/burstable/pod12345678-0000-0000-0000-000000000001")
        let watcher = await DiscoveryWatcher(sources: [
            KubernetesSource(scanRoot: root.path, cpuManagerStatePath: nil, cgroups: cgroups, pollIntervalSeconds: 0.1),
        ])
        defer { watcher.stop() }
        #expect(await watcher.wait { table, _ in table["pod/12345678-0000-0000-0000-000000000001"] != nil })
        #expect(rmdir(cgroups.directory(pod)) == 0)
        #expect(await watcher.wait { table, _ in table.tenants.isEmpty })
    }

    /// With the fallback look once a minute, only events can reflect a change within a second: a pod cgroup created
    /// under driver and QoS directories that did not exist when the source started, the same pod removed, and a new
    /// CPU manager checkpoint renamed into place.
    @Test func podsAndTheCPUManagerStateAreFollowedByInotifyWithinASecond() async throws {
        let cgroups = CgroupFS.detect()
        let root = try TestCgroup(cgroups: cgroups)
        defer { root.remove() }
        let directory = NSTemporaryDirectory() + discoverRandomName()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let statePath = directory + "/cpu_manager_state"
        try root.makeChild("kubepods/besteffort/pod12345678-0000-0000-0000-00000000000a")
        let watcher = await DiscoveryWatcher(sources: [
            KubernetesSource(scanRoot: root.path, cpuManagerStatePath: statePath, cgroups: cgroups, pollIntervalSeconds: 60),
        ])
        defer { watcher.stop() }
        #expect(await watcher.wait { table, _ in table["pod/12345678-0000-0000-0000-00000000000a"] != nil }, "the first look")

        let pod = try root.makeChild("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12345678_0000_0000_0000_00000000000b.slice")
        #expect(await watcher.wait(timeoutSeconds: 1) { table, _ in table["pod/12345678-0000-0000-0000-00000000000b"]?.spec.tenantClass == .burstable })
        #expect(rmdir(cgroups.directory(pod)) == 0)
        #expect(await watcher.wait(timeoutSeconds: 1) { table, _ in table["pod/12345678-0000-0000-0000-00000000000b"] == nil })

        // Foundation's atomic write renames a temporary file into place, as the kubelet does.
        try #"{"policyName":"static","defaultCpuSet":"0","entries":{"12345678-0000-0000-0000-00000000000a":{"app":"1"}},"checksum":1}"#
            .write(toFile: statePath, atomically: true, encoding: .utf8)
        #expect(await watcher.wait(timeoutSeconds: 1) { table, _ in
            table.reservedCoreIDs == [1] && table["pod/12345678-0000-0000-0000-00000000000a"]?.exclusiveCoreIDs == [1]
        })
    }
}

/// An HTTP/1.1 server on 127.0.0.1 that answers every request with one recorded body, and records the requests.
final class RecordedHTTPServer: @unchecked Sendable {
    struct Request: Sendable {
        var path: String
        var authorization: String?
    }

    let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var recorded: [Request] = []
    private let body: String

    init(body: String) throws {
        self.body = body
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(listener, generic, length) == 0 && listen(listener, 16) == 0 && getsockname(listener, generic, &length) == 0
            }
        }
        guard bound else { throw DiscoverTestError(message: "cannot listen on 127.0.0.1: errno \(errno)") }
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    var requests: [Request] { lock.withLock { recorded } }

    private func serve() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 { return }
            var head = [UInt8]()
            var chunk = [UInt8](repeating: 0, count: 4096)
            while !head.ends(with: Array("\r\n\r\n".utf8)) {
                let count = recv(connection, &chunk, chunk.count, 0)
                if count <= 0 { break }
                head += chunk[0..<count]
            }
            let lines = String(decoding: head, as: UTF8.self).components(separatedBy: "\r\n")
            let path = lines.first?.split(separator: " ").dropFirst().first.map(String.init) ?? ""
            let authorization = lines.first { $0.lowercased().hasPrefix("authorization:") }.map { String($0.dropFirst("authorization:".count)).trimmingCharacters(in: .whitespaces) }
            lock.withLock { recorded.append(Request(path: path, authorization: authorization)) }
            let response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            _ = Array(response.utf8).withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(connection)
        }
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    func stopAndReturnPort() -> UInt16 {
        stop()
        return port
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
