import Enforce
import Foundation
import Testing

/// Ingress shaping through an ifb device, in network namespaces the test made (the device is made inside one of
/// them and goes away with it). `tc` and `iperf3` only check what Enforce did.
@Suite(.serialized) struct EnforceIngressKernelTests {
    @Test func whatALinkReceivesIsHeldToTheIngressRate() throws {
        let network = try EnforceTestNetwork()
        defer { network.remove() }
        let device = "dpm-ifb\(UInt32.random(in: 0..<100_000))"
        let shaper = try TrafficShaper(namespacePath: network.namespacePathA)
        try shaper.shapeIngress(link: network.linkA, device: device, bitsPerSecond: 200e6)
        try shaper.shapeIngress(link: network.linkA, device: device, bitsPerSecond: 50e6)  // idempotent: the rate changes
        #expect(try network.run("tc", "-n", network.a, "class", "show", "dev", device).contains("class htb d9:1 root prio 0 rate 50Mbit ceil 50Mbit"))
        #expect(try network.run("tc", "-n", network.a, "filter", "show", "dev", network.linkA, "ingress").contains("Egress Redirect to device \(device)"))

        // b sends to a for 2 s: a's receiving side is held to 50 Mbit/s.
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["ip", "netns", "exec", network.a, "iperf3", "-s", "-1", "-p", "5311"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        usleep(500_000)
        let report = try network.run("ip", "netns", "exec", network.b, "iperf3", "-c", network.addressA, "-p", "5311", "-t", "2", "-J")
        let json = try JSONSerialization.jsonObject(with: Data(report.utf8)) as? [String: Any]
        let received = try #require(((json?["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double)
        #expect(abs(received / 50e6 - 1) <= 0.15, "received \(received) bit/s")

        try shaper.removeIngressShaping(link: network.linkA, device: device)
        #expect(throws: EnforceTestNetwork.CommandFailed.self) { try network.run("ip", "-n", network.a, "link", "show", device) }
        #expect(!(try network.run("tc", "-n", network.a, "filter", "show", "dev", network.linkA, "ingress")).contains("mirred"))
    }
}
