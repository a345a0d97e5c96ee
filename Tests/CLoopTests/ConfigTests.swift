import Pool
import Testing

@testable import CLoop

@Suite struct ConfigTests {
    @Test func theMinimalFileFromTheIssueWorks() throws {
        let text = """
        tick: 1ms
        reserve: {cores: [0]}
        tenants:
          - {name: lc, cgroup: demo/lc, class: latency-critical, slo: {runq_wait_p99: 200us}}
          - {name: be, cgroup: demo/be, class: best-effort}
        """
        let config = try ConfigParser.parse(text, file: "min.yaml")
        #expect(config.tickNanoseconds == 1_000_000)
        #expect(config.reserve.coreIDs == [0])
        #expect(config.tenants.map(\.name) == ["lc", "be"])
        #expect(config.tenants[0].tenantClass == .latencyCritical)
        #expect(config.tenants[0].cgroupPath == "demo/lc")
        #expect(config.tenants[0].slo.runQueueWaitP99Nanoseconds == 200_000)
        #expect(config.tenants[1].tenantClass == .bestEffort)
        #expect(config.tenants[1].slo.runQueueWaitP99Nanoseconds == nil)
    }

    /// Best-effort tenants soak the owned cores' idle cycles only when the file turns it on.
    @Test func idleSoakingIsOffUnlessTurnedOn() throws {
        #expect(try ConfigParser.parse("tick: 1ms\n", file: "a.yaml").idleSoak == .off)
        #expect(try ConfigParser.parse("best_effort: {soak_owned_cores: false}\n", file: "b.yaml").idleSoak == .off)
        #expect(try ConfigParser.parse("best_effort: {soak_owned_cores: true}\n", file: "c.yaml").idleSoak == .ownedCores)
    }

    @Test func theDeployExampleParses() throws {
        let config = try ConfigParser.load(path: #filePath.replacingOccurrences(of: "Tests/CLoopTests/ConfigTests.swift", with: "deploy/dpm.yaml"))
        #expect(!config.tenants.isEmpty)
        #expect(config.links.count == 1)
    }

    @Test func classObjectivesApplyUnlessATenantSetsItsOwn() throws {
        let text = """
        classes:
          latency-critical: {slo: {runq_wait_p99: 300us}}
        links: [{name: eth0, bandwidth: 1Gbit}]
        tenants:
          - {name: a, cgroup: x/a, class: latency-critical}
          - {name: b, cgroup: x/b, class: latency-critical, slo: {runq_wait_p99: 50us},
             guaranteed: {cpu: 0.5, memory: 100Mi}, cap: {cpu: 2, bandwidth: 10Mbit}, link: eth0}
        solve: {when: every-tick}
        hysteresis: {cpu: 0.1, memory: 0.2, shrink_hold: 50ms}
        realtime: false
        metrics_port: off
        """
        let config = try ConfigParser.parse(text, file: "c.yaml")
        #expect(config.tenants[0].slo.runQueueWaitP99Nanoseconds == 300_000)
        #expect(config.tenants[1].slo.runQueueWaitP99Nanoseconds == 50_000)
        #expect(config.tenants[1].guaranteed == ResourceVector(cpuCores: 0.5, memoryBytes: 100 * 1024 * 1024))
        #expect(config.tenants[1].cap.cpuCores == 2)
        #expect(config.tenants[1].cap.memoryBytes == .infinity)
        #expect(config.tenants[1].cap.networkBitsPerSecond == 10e6)
        #expect(config.tenants[1].linkName == "eth0")
        #expect(config.solvePolicy == .everyTick)
        #expect(config.hysteresis.shrinkHoldNanoseconds == 50_000_000)
        #expect(config.realtimePriority == nil)
        #expect(config.metricsPort == nil)
    }

    /// Every error names the file, the line and the field.
    @Test(arguments: [
        ("tick: 1 parsec\n", 1, "tick"),
        ("tick: 1ms\ntenants:\n  - {name: lc, cgroup: demo/lc, class: latency-critical, slo: {runq_wait_p99: fast}}\n", 3, "tenants[0].slo.runq_wait_p99"),
        ("tenants:\n  - name: a\n    cgroup: a\n    class: gold\n", 4, "tenants[0].class"),
        ("reserve:\n  cores: [0]\n  memry: 1Gi\n", 3, "reserve.memry"),
        ("tenants:\n  - {name: a, cgroup: a, class: burstable}\n  - {name: a, cgroup: b, class: burstable}\n", 3, "tenants[1].name"),
        ("tenants:\n  - {name: a, cgroup: /abs, class: burstable}\n", 2, "tenants[0].cgroup"),
        ("tenants:\n  - {name: a, cgroup: a, class: burstable, guaranteed: {cpu: 3}, cap: {cpu: 1}}\n", 2, "tenants[0]"),
        ("tenants:\n  - {name: a, cgroup: a, class: burstable, link: eth9}\n", 2, "tenants[0].link"),
        ("tick_cpu: 1\nreserve: {cores: [0]}\n", 1, "tick_cpu"),
        ("tick: [1ms\n", 2, "(syntax)"),
        ("central: {token_file: /t}\n", 1, "central"),
        ("central: {url: http://c:1}\n", 1, "central"),
        ("central:\n  url: ftp://c\n  token_file: /t\n", 2, "central.url"),
        ("central:\n  url: http://c:1\n  token_file: token\n", 3, "central.token_file"),
        ("central:\n  url: http://c:1\n  token_file: /t\n  host_id: edge 7\n", 4, "central.host_id"),
        ("central:\n  url: http://c:1\n  token_file: /t\n  interval: 1500ms\n", 4, "central.interval"),
        ("central:\n  url: http://c:1\n  token_file: /t\n  interval: 500ms\n", 4, "central.interval"),
        ("central:\n  url: http://c:1\n  token_file: /t\n  prior_refresh: 10ms\n", 4, "central.prior_refresh"),
        ("central:\n  url: http://c:1\n  token_file: /t\n  spool: /s\n", 4, "central.spool"),
        ("tenants:\n  - {name: a, cgroup: a, class: burstable,\n     workload: [web]}\n", 3, "tenants[0].workload"),
        ("best_effort:\n  soak_owned_cores: maybe\n", 2, "best_effort.soak_owned_cores"),
        ("best_effort: {soak: true}\n", 1, "best_effort.soak"),
    ])
    func badFilesNameFileLineAndField(text: String, line: Int, field: String) {
        do {
            _ = try ConfigParser.parse(text, file: "bad.yaml")
            Issue.record("parsed a bad file: \(text)")
        } catch {
            #expect(error.file == "bad.yaml")
            #expect(error.line == line, "\(error)")
            #expect(error.field == field, "\(error)")
            #expect(error.description.hasPrefix("bad.yaml:\(line): \(field): "))
        }
    }

    @Test func unitsParse() {
        #expect(Units.durationNanoseconds("1ms") == 1e6)
        #expect(Units.durationNanoseconds("200us") == 2e5)
        #expect(Units.durationNanoseconds("1.5s") == 1.5e9)
        #expect(Units.durationNanoseconds("100") == nil)
        #expect(Units.durationNanoseconds("-1ms") == nil)
        #expect(Units.sizeBytes("200Mi") == 209_715_200.0)
        #expect(Units.sizeBytes("1G") == 1e9)
        #expect(Units.sizeBytes("4096") == 4096)
        #expect(Units.sizeBytes("lots") == nil)
        #expect(Units.rateBitsPerSecond("100Mbit") == 1e8)
        #expect(Units.formatNanoseconds(200_000) == "200us")
    }
}
