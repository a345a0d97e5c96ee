@testable import Discover
import Foundation
import Pool
import Testing

struct PodResourcesTests {
    let source = SourceID(kind: .kubernetes, location: "")

    func resources(_ specJSON: String) throws -> (PodResources, [DiscoveryWarning]) {
        PodResources.of(try JSONDecoder().decode(PodSpec.self, from: Data(specJSON.utf8)), pod: "shop/web", source: source)
    }

    @Test func quantitiesInEveryFormTheAPIWrites() {
        #expect(KubernetesQuantity.value("500m") == 0.5)
        #expect(KubernetesQuantity.value("2") == 2)
        #expect(KubernetesQuantity.value("1.5") == 1.5)
        #expect(KubernetesQuantity.value("128Mi") == 134_217_728)
        #expect(KubernetesQuantity.value("1.5Gi") == 1_610_612_736)
        #expect(KubernetesQuantity.value("1G") == 1e9)
        #expect(KubernetesQuantity.value("100k") == 100_000)
        #expect(KubernetesQuantity.value("2e3") == 2000)
        #expect(KubernetesQuantity.value("1E") == 1e18)
        for bad in ["", "abc", "-1", "inf", "nan", "12Qi", "1.5 Gi", "0x10"] { #expect(KubernetesQuantity.value(bad) == nil, "\(bad)") }
    }

    /// Containers add up, the largest init container counts when it asks for more, the overhead comes on top; the
    /// pod has a memory cap because every container sets one, and no CPU cap because one does not.
    @Test func requestsAndLimitsAddUpAsTheKubeletSizesThePodCgroup() throws {
        let (pod, warnings) = try resources(#"""
        {"containers":[
           {"name":"app","resources":{"requests":{"cpu":"500m","memory":"256Mi"},"limits":{"cpu":"2","memory":"1Gi"}}},
           {"name":"proxy","resources":{"requests":{"cpu":"100m"},"limits":{"memory":"128Mi"}}}],
         "initContainers":[{"name":"migrate","resources":{"requests":{"cpu":"1","memory":"64Mi"},"limits":{"cpu":"1","memory":"2Gi"}}}],
         "overhead":{"cpu":"50m","memory":"16Mi"}}
        """#)
        #expect(warnings.isEmpty)
        #expect(abs(pod.guaranteed.cpuCores - 1.05) < 1e-12, "max(0.5 + 0.1, 1) + 0.05")
        // proxy requests its memory limit (no request set): 256Mi + 128Mi, above the init container's 64Mi.
        #expect(pod.guaranteed.memoryBytes == (256 + 128 + 16) * 1_048_576)
        #expect(pod.cap.cpuCores == .infinity)
        #expect(pod.cap.memoryBytes == (2048 + 16) * 1_048_576, "max(1Gi + 128Mi, 2Gi) + overhead")
    }

    @Test func podLevelResourcesReplaceTheSumsAndNoSpecMeansNoGuaranteeNoCap() throws {
        let (pod, _) = try resources(#"""
        {"resources":{"requests":{"cpu":"3"},"limits":{"cpu":"4"}},
         "containers":[{"name":"app","resources":{"requests":{"cpu":"1","memory":"1Gi"}}}]}
        """#)
        #expect(pod.guaranteed == ResourceVector(cpuCores: 3, memoryBytes: 1_073_741_824))
        #expect(pod.cap.cpuCores == 4)
        #expect(pod.cap.memoryBytes == .infinity)
        let (none, warnings) = PodResources.of(nil, pod: "shop/web", source: source)
        #expect(none == PodResources(guaranteed: .zero, cap: .unlimited))
        #expect(warnings.isEmpty)
    }

    @Test func aMalformedQuantityIsLeftOutAndNamedARequestAboveItsLimitDropsTheCap() throws {
        let (pod, warnings) = try resources(#"""
        {"resources":{"requests":{"memory":"3Gi"},"limits":{"memory":"2Gi"}},
         "containers":[{"name":"app","resources":{"requests":{"cpu":"lots","memory":"1Gi"},"limits":{"cpu":"2"}}}]}
        """#)
        #expect(pod.guaranteed.cpuCores == 2, "the limit stands in for the malformed request")
        #expect(pod.cap.cpuCores == 2)
        #expect(pod.guaranteed.memoryBytes == 3 * 1_073_741_824)
        #expect(pod.cap.memoryBytes == .infinity)
        #expect(warnings.map(\.message) == [
            "container app resources.requests.cpu=lots is not a Kubernetes quantity; ignored",
            "memory request of 3221225472.0 bytes exceeds its limit of 2147483648.0 bytes; no memory cap",
        ])
        #expect(warnings.allSatisfy { $0.tenant == "shop/web" })
    }

    /// `dpm.io/…` annotations override what the requests and limits say; a contradictory pair falls back to them.
    @Test func annotationsOverrideRequestsAndAContradictionFallsBackToThem() throws {
        let (pod, _) = try resources(#"{"containers":[{"name":"app","resources":{"requests":{"cpu":"1","memory":"1Gi"},"limits":{"cpu":"2","memory":"2Gi"}}}]}"#)
        let spec = { (annotations: [String: String]) in
            SpecLabels.spec(
                name: "shop/web", cgroupPath: "/kubepods/burstable/pod1", defaultClass: .burstable,
                defaultGuaranteed: pod.guaranteed, defaultCap: pod.cap, labels: annotations, prefix: SpecLabels.kubernetesPrefix, source: source
            )
        }
        let (overridden, none) = spec(["dpm.io/cpu.min": "1500m"])
        #expect(none.isEmpty)
        #expect(overridden.guaranteed == ResourceVector(cpuCores: 1.5, memoryBytes: 1_073_741_824))
        #expect(overridden.cap == ResourceVector(cpuCores: 2, memoryBytes: 2_147_483_648, networkBitsPerSecond: .infinity))
        let (contradiction, warnings) = spec(["dpm.io/cpu.min": "3"])
        #expect(contradiction.guaranteed.cpuCores == 1)
        #expect(contradiction.cap.cpuCores == 2)
        #expect(warnings.map(\.message) == ["label dpm.io/cpu.min=3 exceeds the default cpu.max of 2.0 cores; using the defaults for both"])
    }
}
