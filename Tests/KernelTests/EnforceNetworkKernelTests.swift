import Enforce
import Foundation
import Testing

/// HTB shaping over raw rtnetlink in network namespaces the test made. `tc` only checks what Enforce did.
@Suite(.serialized) struct EnforceNetworkKernelTests {
    @Test func setsUpTheTreeOnceAndChangesRatesInPlace() throws {
        let network = try EnforceTestNetwork()
        defer { network.remove() }
        let shaper = try TrafficShaper(namespacePath: network.namespacePathA, linkBitsPerSecond: [network.linkA: 1e9])
        let tenant = TenantState(name: "web", cgroupPath: "dpm-test/web")
        try shaper.prepare(link: network.linkA)
        try shaper.prepare(link: network.linkA)  // idempotent
        try shaper.setRate(link: network.linkA, classMinor: 2, tenant: tenant, rateBitsPerSecond: 10e6, ceilBitsPerSecond: 50e6)
        var classes = try network.run("tc", "-n", network.a, "class", "show", "dev", network.linkA)
        #expect(classes.contains("class htb d9:2 parent d9:1 prio 0 rate 10Mbit ceil 50Mbit"), "\(classes)")
        #expect(classes.contains("class htb d9:1 root rate 1Gbit ceil 1Gbit"), "\(classes)")

        try shaper.setRate(link: network.linkA, classMinor: 2, tenant: tenant, rateBitsPerSecond: 10e6, ceilBitsPerSecond: 200e6)
        classes = try network.run("tc", "-n", network.a, "class", "show", "dev", network.linkA)
        #expect(classes.contains("rate 10Mbit ceil 200Mbit"), "\(classes)")

        // A second shaper (a restarted agent) finds the tree and keeps it.
        let restarted = try TrafficShaper(namespacePath: network.namespacePathA, linkBitsPerSecond: [network.linkA: 1e9])
        try restarted.prepare(link: network.linkA)
        #expect(try network.run("tc", "-n", network.a, "class", "show", "dev", network.linkA).contains("d9:2"))

        try restarted.remove(link: network.linkA)
        #expect(!(try network.run("tc", "-n", network.a, "qdisc", "show", "dev", network.linkA)).contains("htb"))
    }

    @Test func twoTenantsGetTheirRatesAndARateChangeActsWithinTenMilliseconds() throws {
        let network = try EnforceTestNetwork()
        defer { network.remove() }
        let parent = "dpm-test-\(UInt32.random(in: 0...UInt32.max))"
        let slow = try EnforceTestCgroup("slow", parent: parent)
        defer { slow.remove() }
        let fast = try EnforceTestCgroup("fast", parent: parent)
        defer { fast.remove() }
        let directory = NSTemporaryDirectory() + parent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let classifier = try BPFClassifier(unifiedMountPoint: "/sys/fs/cgroup/unified")
        let shaper = try TrafficShaper(namespacePath: network.namespacePathA, linkBitsPerSecond: [network.linkA: 1e9], classifier: classifier)
        let enforcer = try makeTestEnforcer(bandwidth: shaper)
        defer { enforcer.restore() }
        func tenants(slowBitsPerSecond: Double, fastBitsPerSecond: Double) -> [TenantState] {
            [
                TenantState(name: "slow", cgroupPath: slow.path, bandwidthBitsPerSecond: [network.linkA: slowBitsPerSecond], guaranteed: .init(networkBitsPerSecond: 10e6)),
                TenantState(name: "fast", cgroupPath: fast.path, bandwidthBitsPerSecond: [network.linkA: fastBitsPerSecond], guaranteed: .init(networkBitsPerSecond: 10e6)),
            ]
        }
        try enforcer.apply(tenants(slowBitsPerSecond: 50e6, fastBitsPerSecond: 200e6))

        let servers = try [5301, 5302, 5303].map { port in
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            server.arguments = ["ip", "netns", "exec", network.b, "iperf3", "-s", "-1", "-p", String(port)]
            server.standardOutput = FileHandle.nullDevice
            server.standardError = FileHandle.nullDevice
            try server.run()
            return server
        }
        defer { for server in servers where server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        usleep(500_000)

        // Both tenants at once for 3 s.
        func client(_ cgroup: EnforceTestCgroup, port: Int, seconds: Int) throws -> (Process, String) {
            let output = directory + "/\(port).json"
            let process = try cgroup.spawn("exec ip netns exec \(network.a) iperf3 -c \(network.addressB) -p \(port) -t \(seconds) -J > \(output)")
            return (process, output)
        }
        let clients = [try client(slow, port: 5301, seconds: 3), try client(fast, port: 5302, seconds: 3)]
        for (process, _) in clients { process.waitUntilExit() }
        let rates = try clients.map { _, output in
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as? [String: Any]
            let received = ((json?["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double
            return received ?? 0
        }
        #expect(abs(rates[0] / 50e6 - 1) <= 0.15, "slow tenant: \(rates[0]) bit/s")
        #expect(abs(rates[1] / 200e6 - 1) <= 0.15, "fast tenant: \(rates[1]) bit/s")

        // The fast tenant sends alone; its ceiling drops to 50 Mbit/s at runtime. The link's transmitted bytes,
        // read from the sender's view of its namespace, must show the new rate from 10 ms after the change.
        let (sender, _) = try client(fast, port: 5303, seconds: 3)
        defer { if sender.isRunning { kill(sender.processIdentifier, SIGKILL) } }
        usleep(1_000_000)
        func transmittedBytes() -> Double {
            let text = (try? String(contentsOfFile: "/proc/\(sender.processIdentifier)/net/dev", encoding: .utf8)) ?? ""
            let line = text.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(network.linkA + ":") }
            let fields = line?.split(separator: ":")[1].split(separator: " ") ?? []
            return fields.count > 8 ? Double(fields[8]) ?? 0 : 0
        }
        var samples: [(nanoseconds: UInt64, bytes: Double)] = []
        func sample(for nanoseconds: UInt64) {
            let end = DispatchTime.now().uptimeNanoseconds + nanoseconds
            while DispatchTime.now().uptimeNanoseconds < end {
                samples.append((DispatchTime.now().uptimeNanoseconds, transmittedBytes()))
                usleep(500)
            }
        }
        sample(for: 200_000_000)
        let changedAt = DispatchTime.now().uptimeNanoseconds
        try enforcer.apply(tenants(slowBitsPerSecond: 50e6, fastBitsPerSecond: 50e6))
        let acknowledgedAt = DispatchTime.now().uptimeNanoseconds
        sample(for: 400_000_000)
        func rate(from start: UInt64, to end: UInt64) -> Double {
            guard let first = samples.first(where: { $0.nanoseconds >= start }),
                  let last = samples.last(where: { $0.nanoseconds <= end }), last.nanoseconds > first.nanoseconds else { return 0 }
            return (last.bytes - first.bytes) * 8 / (Double(last.nanoseconds - first.nanoseconds) / 1e9)
        }
        let before = rate(from: changedAt - 200_000_000, to: changedAt)
        let after = rate(from: changedAt + 10_000_000, to: changedAt + 310_000_000)
        #expect(acknowledgedAt - changedAt < 10_000_000, "the change took \(acknowledgedAt - changedAt) ns")
        #expect(abs(before / 200e6 - 1) <= 0.15, "before the change: \(before) bit/s")
        #expect(abs(after / 50e6 - 1) <= 0.15, "from 10 ms after the change: \(after) bit/s")
    }

    @Test func aMissingDeviceIsATypedError() throws {
        let network = try EnforceTestNetwork()
        defer { network.remove() }
        let shaper = try TrafficShaper(namespacePath: network.namespacePathA)
        #expect(throws: EnforceError.deviceMissing("nosuch0")) { try shaper.prepare(link: "nosuch0") }
    }

    @Test func aRootQdiscOfSomeoneElseIsLeftAlone() throws {
        let network = try EnforceTestNetwork()
        defer { network.remove() }
        try network.run("tc", "-n", network.a, "qdisc", "add", "dev", network.linkA, "root", "handle", "1:", "htb")
        let shaper = try TrafficShaper(namespacePath: network.namespacePathA)
        #expect(throws: EnforceError.self) { try shaper.prepare(link: network.linkA) }
        #expect(try network.run("tc", "-n", network.a, "qdisc", "show", "dev", network.linkA).contains("htb 1:"))
    }
}
