@testable import Discover
import Pool
import Testing

struct SpecLabelsTests {
    let source = SourceID(kind: .docker, location: "/run/docker.sock")

    @Test func everyLabelParsesWithItsUnit() {
        let (spec, warnings) = SpecLabels.spec(
            name: "web", cgroupPath: "/web", defaultClass: .burstable,
            labels: [
                "dpm.class": "latency-critical", "dpm.cpu.min": "250m", "dpm.cpu.max": "1.5",
                "dpm.memory.min": "1Ki", "dpm.memory.max": "3G", "dpm.slo.runq-p99": "2ms", "other": "x",
            ],
            prefix: SpecLabels.dockerPrefix, source: source
        )
        #expect(warnings.isEmpty)
        #expect(spec.tenantClass == .latencyCritical)
        #expect(spec.guaranteed.cpuCores == 0.25)
        #expect(spec.cap.cpuCores == 1.5)
        #expect(spec.guaranteed.memoryBytes == 1024)
        #expect(spec.cap.memoryBytes == 3e9)
        #expect(spec.slo.runQueueWaitP99Nanoseconds == 2e6)
        #expect(throws: Never.self) { try spec.validate() }
    }

    @Test func unitsOfEachFormat() {
        #expect(SpecLabels.parseBytes("512Mi") == 536_870_912)
        #expect(SpecLabels.parseBytes("2Gi") == 2_147_483_648)
        #expect(SpecLabels.parseBytes("5k") == 5000)
        #expect(SpecLabels.parseBytes("4096") == 4096)
        #expect(SpecLabels.parseBytes("-1") == nil)
        #expect(SpecLabels.parseBytes("12 apples") == nil)
        #expect(SpecLabels.parseCores("0") == 0)
        #expect(SpecLabels.parseCores("1500m") == 1.5)
        #expect(SpecLabels.parseCores("inf") == nil)
        #expect(SpecLabels.parseNanoseconds("100ns") == 100)
        #expect(SpecLabels.parseNanoseconds("250us") == 250_000)
        #expect(SpecLabels.parseNanoseconds("1s") == 1e9)
        #expect(SpecLabels.parseNanoseconds("5") == nil)
        #expect(SpecLabels.parseNanoseconds("0ms") == nil)
    }

    @Test func malformedValuesKeepDefaultsAndWarningsNameTheLabel() {
        let (spec, warnings) = SpecLabels.spec(
            name: "web", cgroupPath: "/web", defaultClass: .bestEffort,
            labels: ["dpm.class": "vip", "dpm.memory.max": "much", "dpm.slo.runq-p99": "fast", "dpm.colour": "red"],
            prefix: SpecLabels.dockerPrefix, source: source
        )
        #expect(spec.tenantClass == .bestEffort)
        #expect(spec.cap.memoryBytes == .infinity)
        #expect(spec.slo.runQueueWaitP99Nanoseconds == nil)
        let messages = warnings.map(\.message)
        #expect(messages.contains { $0.contains("dpm.class=vip") })
        #expect(messages.contains { $0.contains("dpm.memory.max=much") })
        #expect(messages.contains { $0.contains("dpm.slo.runq-p99=fast") })
        #expect(messages.contains { $0.contains("dpm.colour") })
        #expect(warnings.allSatisfy { $0.tenant == "web" && $0.source == source })
    }

    @Test func minimumAboveMaximumFallsBackToDefaultsForThatResource() {
        let (spec, warnings) = SpecLabels.spec(
            name: "pod", cgroupPath: "/p", defaultClass: .burstable,
            labels: ["dpm.io/cpu.min": "4", "dpm.io/cpu.max": "2", "dpm.io/memory.max": "1Gi"],
            prefix: SpecLabels.kubernetesPrefix, source: SourceID(kind: .kubernetes, location: "")
        )
        #expect(spec.guaranteed.cpuCores == 0)
        #expect(spec.cap.cpuCores == .infinity)
        #expect(spec.cap.memoryBytes == 1024 * 1024 * 1024)
        #expect(warnings.count == 1)
        #expect(warnings.first?.message.contains("dpm.io/cpu.min=4") == true)
    }
}
