import Enforce
import Foundation
import Testing

/// What Enforce leaves in the network when tenants come and go and when it restores: real qdiscs, the BPF
/// classifier and ifb devices in network namespaces the test made. `tc`, `ip` and `bpftool` only read back.
@Suite(.serialized) struct EnforceNetworkLifecycleKernelTests {
    /// 1,000 containers come and go, one at a time, each shaped on the link: each one's class and classifier
    /// entry go when it is forgotten. The classifier's map holds 256 entries, so entries left behind would make
    /// the 257th tenant fail.
    @Test func tenantsThatComeAndGoLeaveNoClassAndNoClassifierEntry() throws {
        let network = try EnforceTestNetwork()
        defer { network.remove() }
        let classifier = try BPFClassifier(unifiedMountPoint: "/sys/fs/cgroup/unified")
        let shaper = try TrafficShaper(namespacePath: network.namespacePathA, linkBitsPerSecond: [network.linkA: 1e9], classifier: classifier)
        let enforcer = try makeTestEnforcer(bandwidth: shaper)
        defer { enforcer.restore() }
        // Found once the first apply attached the classifier.
        var classifierMap: EnforceClassifierMap?

        for container in 0..<1000 {
            let cgroup = try EnforceTestCgroup("c\(container)")
            do {
                defer { cgroup.remove() }
                let name = "container-\(container)"
                try enforcer.apply([
                    TenantState(name: name, cgroupPath: cgroup.path, bandwidthBitsPerSecond: [network.linkA: 20e6], guaranteed: .init(networkBitsPerSecond: 5e6))
                ])
                if classifierMap == nil { classifierMap = try EnforceClassifierMap(network: network) }
                if container % 250 == 0 {
                    #expect(try network.htbClasses(network.linkA) == ["d9:1", "d9:2"])
                    #expect(try classifierMap?.entryCount() == 1)
                }
            }
            #expect(enforcer.forget(tenant: "container-\(container)") != nil)
        }
        #expect(try network.htbClasses(network.linkA) == ["d9:1"])
        #expect(try classifierMap?.entryCount() == 0)
        #expect(enforcer.baseline.classMinors.isEmpty && enforcer.applied.isEmpty)
    }

    /// Egress shaping with the classifier and ingress shaping through an ifb device on one link; after restore the
    /// namespace's devices, the link's qdiscs and its filters are as they were before.
    @Test func restoreLeavesTheLinkAsItWas() throws {
        let network = try EnforceTestNetwork()
        defer { network.remove() }
        let cgroup = try EnforceTestCgroup("web")
        defer { cgroup.remove() }
        let classifier = try BPFClassifier(unifiedMountPoint: "/sys/fs/cgroup/unified")
        let shaper = try TrafficShaper(namespacePath: network.namespacePathA, linkBitsPerSecond: [network.linkA: 1e9], classifier: classifier)
        let enforcer = try makeTestEnforcer(bandwidth: shaper)
        var restored = false
        defer { if !restored { enforcer.restore() } }

        let before = try network.linkSnapshot(network.linkA)
        try enforcer.apply([TenantState(name: "web", cgroupPath: cgroup.path, bandwidthBitsPerSecond: [network.linkA: 50e6])])
        let device = try enforcer.shapeIngress(link: network.linkA, bitsPerSecond: 100e6)
        let shaped = try network.linkSnapshot(network.linkA)
        #expect(shaped.devices.contains(device))
        #expect(shaped.qdiscs.contains("htb d9: root") && shaped.qdiscs.contains("clsact ffff: parent ffff:fff1"), "\(shaped.qdiscs)")
        #expect(shaped.filters.contains { $0.hasPrefix("egress bpf") } && shaped.filters.contains { $0.hasPrefix("ingress u32") }, "\(shaped.filters)")

        let report = enforcer.restore()
        restored = true
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(try network.linkSnapshot(network.linkA) == before)
    }
}

/// The classifier's map as the kernel holds it, found from the program attached on the test's link.
struct EnforceClassifierMap {
    let mapID: Int

    init(network: EnforceTestNetwork) throws {
        let filters = try network.json("tc", "-j", "-n", network.a, "filter", "show", "dev", network.linkA, "egress")
        let programs = filters.compactMap { (($0["options"] as? [String: Any])?["prog"] as? [String: Any])?["id"] as? Int }
        let program = try #require(programs.first, "no BPF program on \(network.linkA) egress: \(filters)")
        let info = try Self.bpftool("prog", "show", "id", String(program)) as? [String: Any]
        let maps = try (info?["map_ids"] as? [Int] ?? []).filter { map in
            (try Self.bpftool("map", "show", "id", String(map)) as? [String: Any])?["name"] as? String == "tenant_classes"
        }
        mapID = try #require(maps.first, "program \(program) has no map tenant_classes: \(String(describing: info))")
    }

    static func bpftool(_ arguments: String...) throws -> Any {
        try EnforceTestNetwork.parseJSON(["bpftool", "-j"] + arguments)
    }

    func entryCount() throws -> Int {
        (try Self.bpftool("map", "dump", "id", String(mapID)) as? [Any])?.count ?? -1
    }
}

extension EnforceTestNetwork {
    /// What a restore must put back: the devices of namespace `a`, the link's qdiscs and its filters on both hooks.
    struct LinkSnapshot: Equatable {
        var devices: [String]
        var qdiscs: [String]
        var filters: [String]
    }

    func json(_ arguments: String...) throws -> [[String: Any]] {
        try Self.parseJSON(arguments) as? [[String: Any]] ?? []
    }

    struct NotJSON: Error { var command: [String]; var output: String }

    /// Runs a command and parses what it writes on standard output (its warnings on standard error are not JSON).
    static func parseJSON(_ arguments: [String]) throws -> Any {
        let output = try run(arguments, keepingStandardError: false)
        if output.allSatisfy(\.isWhitespace) { return [Any]() }
        do { return try JSONSerialization.jsonObject(with: Data(output.utf8)) } catch {
            throw NotJSON(command: arguments, output: output)
        }
    }

    func linkSnapshot(_ link: String) throws -> LinkSnapshot {
        let devices = try json("ip", "-j", "-n", a, "link", "show").compactMap { $0["ifname"] as? String }.sorted()
        let qdiscs = try json("tc", "-j", "-n", a, "qdisc", "show", "dev", link).map { qdisc in
            let place = (qdisc["root"] as? Bool) == true ? "root" : "parent \(qdisc["parent"] as? String ?? "?")"
            return "\(qdisc["kind"] as? String ?? "?") \(qdisc["handle"] as? String ?? "?") \(place)"
        }.sorted()
        var filters: [String] = []
        for hook in ["ingress", "egress"] {
            filters += try json("tc", "-j", "-n", a, "filter", "show", "dev", link, hook).map { filter in
                "\(hook) \(filter["kind"] as? String ?? "?") pref \(filter["pref"] as? Int ?? -1)"
            }
        }
        return LinkSnapshot(devices: devices, qdiscs: qdiscs, filters: filters.sorted())
    }

    /// The HTB classes on a link, as `d9:N`, sorted (from `class htb d9:2 parent d9:1 …`: `tc class` has no JSON
    /// output in Debian 12's iproute2).
    func htbClasses(_ link: String) throws -> [String] {
        try run("tc", "-n", a, "class", "show", "dev", link).split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            return words.count > 2 && words[0] == "class" && words[1] == "htb" ? String(words[2]) : nil
        }.sorted()
    }
}
