@testable import Enforce
import Testing

@Suite struct PartitionDocumentTests {
    @Test func readsTheIssueShapeAsJSON() throws {
        let json = """
        {"tenants": [{"cgroup": "pods/lc", "cores": [1], "cpu_quota_cores": 0.2, "cpu_weight": 100,
          "memory_max_bytes": 209715200, "memory_high_bytes": 167772160, "bandwidth_bps": {"eth0": 50000000}}]}
        """
        let tenants = try PartitionDocument.parse(json, file: "p.json").tenants
        #expect(tenants.count == 1)
        let lc = try #require(tenants.first)
        #expect(lc.name == "pods/lc" && lc.cgroupPath == "pods/lc" && lc.exclusive)
        #expect(lc.settings == CgroupSettings(cpus: [1], cpuQuotaCores: 0.2, cpuWeight: 100, memoryMaxBytes: 209_715_200, memoryHighBytes: 167_772_160))
        #expect(lc.bandwidthBitsPerSecond == ["eth0": 50_000_000])
    }

    @Test func readsIngressRatesPerLink() throws {
        let partition = try PartitionDocument.parse("tenants: []\ningress_bps: {eth0: 100000000}\n", file: "i.yaml")
        #expect(partition.tenants.isEmpty && partition.ingressBitsPerSecond == ["eth0": 100_000_000])
        #expect(throws: PartitionDocument.Error(file: "j.yaml", line: 2, field: "ingress_bps.eth0", reason: "must be a number ≥ 1.0, not 0")) {
            try PartitionDocument.parse("tenants: []\ningress_bps: {eth0: 0}\n", file: "j.yaml")
        }
    }

    @Test func readsTheSameInYAMLAndLeavesAbsentKeysUnset() throws {
        let yaml = """
        tenants:
          - cgroup: pods/be
            cpu_quota_cores: 1.5
            guaranteed: {cpu_cores: 0.5}
        """
        let be = try #require(try PartitionDocument.parse(yaml, file: "p.yaml").tenants.first)
        #expect(be.settings == CgroupSettings(cpuQuotaCores: 1.5))
        #expect(!be.exclusive && be.bandwidthBitsPerSecond.isEmpty)
        #expect(be.guaranteed.cpuCores == 0.5)
    }

    @Test func namesFileLineAndFieldOfAMistake() {
        let yaml = """
        tenants:
          - cgroup: pods/a
            cpu_quota_cores: lots
        """
        #expect(throws: PartitionDocument.Error(file: "p.yaml", line: 3, field: "tenants[0].cpu_quota_cores", reason: "must be a number ≥ 0.1, not lots")) {
            try PartitionDocument.parse(yaml, file: "p.yaml")
        }
        #expect {
            try PartitionDocument.parse("tenants:\n  - cgroup: a\n    memory_maxbytes: 1\n", file: "q.yaml")
        } throws: { error in
            let error = error as? PartitionDocument.Error
            return error?.line == 3 && error?.field == "tenants[0]" && error?.reason.hasPrefix("unknown key \"memory_maxbytes\"") == true
        }
        #expect {
            try PartitionDocument.parse("{\"tenants\": [{\"cores\": [1]}]}", file: "r.json")
        } throws: { error in
            (error as? PartitionDocument.Error)?.field == "tenants[0].cgroup"
        }
        #expect {
            try PartitionDocument.parse("tenants: [ {cgroup: a", file: "s.yaml")
        } throws: { error in
            (error as? PartitionDocument.Error)?.field == "(document)"
        }
    }
}
