import CLoop
import Foundation
import Glibc
import Testing

/// The agent shapes a link it is given: an HTB tree at the link's bandwidth and the BPF classifier that sends each
/// tenant's packets to the tenant's class — checked by sending packets from inside a tenant and finding them counted
/// in its class. The link is one end of a veth pair the test creates, the other end in a network namespace of the
/// test's own (this kernel has no dummy devices); both are deleted at the end.
@Suite(.serialized) struct AgentShapingKernelTests {
    @Test func aTenantsPacketsAreCountedInItsOwnClassAndStopRestoresTheLink() throws {
        let name = "dpmt\(String(UInt16.random(in: 0...UInt16.max), radix: 16))"
        let (link, peer, namespace) = (name, "\(name)p", "dpm-test-\(name)")
        let subnet = "198.18.\(Int.random(in: 1...254))"
        defer {
            _ = try? runCommand("/sbin/ip", ["link", "del", link])
            _ = try? runCommand("/sbin/ip", ["netns", "del", namespace])
        }
        for command in [
            ["netns", "add", namespace], ["link", "add", link, "type", "veth", "peer", "name", peer],
            ["link", "set", peer, "netns", namespace], ["-n", namespace, "addr", "add", "\(subnet).2/30", "dev", peer],
            ["-n", namespace, "link", "set", peer, "up"], ["addr", "add", "\(subnet).1/30", "dev", link], ["link", "set", link, "up"],
        ] {
            let result = try runCommand("/sbin/ip", command)
            try #require(result.status == 0, "ip \(command.joined(separator: " ")): \(result.error)")
        }
        let qdiscsBefore = try runCommand("/sbin/tc", ["qdisc", "show", "dev", link]).output

        let cgroups = try AgentTestCgroups(names: ["web", "other"])
        defer { cgroups.remove() }
        let agent = try AgentProcess(
            tenants: [
                "{name: web, cgroup: \(cgroups.path("web")), class: burstable, link: \(link), guaranteed: {cpu: 0.1, bandwidth: 10Mbit}}",
                "{name: other, cgroup: \(cgroups.path("other")), class: best-effort, link: \(link)}",
            ],
            extra: ["links: [{name: \(link), bandwidth: 100Mbit}]"]
        )
        defer {
            agent.stop()
            agent.removeDirectory()
        }
        let status = try agent.wait(seconds: 10) { $0.loop.solves > 0 && $0.loop.enforce_writes > 0 }
        #expect(status.loop.enforce_failures == 0, "\(agent.log)")
        let filters = try runCommand("/sbin/tc", ["filter", "show", "dev", link, "egress"]).output
        #expect(filters.contains("bpf"), "no BPF classifier on \(link) egress: \(filters)\n\(agent.log)")

        // 40 UDP datagrams from a process inside web (bash opens a socket per redirection).
        let sender = try cgroups.start("web", "/bin/bash -c 'for i in $(seq 40); do echo x > /dev/udp/\(subnet).2/9; done'")
        sender.waitUntilExit()
        #expect(sender.terminationStatus == 0)
        let classes = try runCommand("/sbin/tc", ["-s", "class", "show", "dev", link]).output
        let tenantPackets = Self.packetsPerClass(classes).filter { $0.key != "d9:1" }
        #expect(tenantPackets.count == 2, "one class per tenant expected: \(classes)")
        #expect(tenantPackets.values.contains { $0 >= 40 }, "web's 40 datagrams were not counted in a tenant class: \(classes)")
        #expect(tenantPackets.values.contains(0), "the idle tenant's class counted packets: \(classes)")

        agent.stop()
        #expect(try runCommand("/sbin/tc", ["qdisc", "show", "dev", link]).output == qdiscsBefore, "the link was not restored\n\(agent.log)")
    }

    /// `tc -s class show` text: each `class htb d9:N …` line is followed by ` Sent B bytes P pkt …`.
    static func packetsPerClass(_ text: String) -> [String: Int] {
        var result: [String: Int] = [:]
        var current: String?
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            if words.count > 2, words[0] == "class" { current = String(words[2]) }
            if let name = current, words.first == "Sent", words.count > 3, let packets = Int(words[3]) {
                result[name] = packets
                current = nil
            }
        }
        return result
    }
}
