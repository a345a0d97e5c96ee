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
