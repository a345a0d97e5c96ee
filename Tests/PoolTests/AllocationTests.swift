import Pool
import Testing

@Suite struct AllocationTests {
    let host = HostCapacity(
        cores: (0..<4).map { Core(id: $0) },
        memoryBytesPerNode: [8e9],
        links: [Link(name: "eth0", bandwidthBitsPerSecond: 1e9)],
        housekeepingCoreIDs: [0],
        reservedMemoryBytes: 1e9
    )
    let lc = TenantSpec(name: "lc", cgroupPath: "demo/lc", tenantClass: .latencyCritical, guaranteed: ResourceVector(cpuCores: 1, memoryBytes: 1e9))
    let be = TenantSpec(name: "be", cgroupPath: "demo/be", tenantClass: .bestEffort)

    @Test func validPartitionPasses() throws {
        let allocation = Allocation(tenants: [
            "lc": TenantAllocation(exclusiveCoreIDs: [1], memoryMaxBytes: 2e9),
            "be": TenantAllocation(sharedCpuCores: 2.5, memoryMaxBytes: 5e9),
        ])
        try allocation.validate(host: host, specs: [lc, be])
    }

    @Test func housekeepingCoreIsRefused() {
        let allocation = Allocation(tenants: ["lc": TenantAllocation(exclusiveCoreIDs: [0], memoryMaxBytes: 2e9)])
        #expect(throws: PoolError.invalid(field: "lc.cores", reason: "CPU 0 is a housekeeping core")) {
            try allocation.validate(host: host, specs: [lc])
        }
    }

    @Test func coreOwnedTwiceIsRefused() {
        let allocation = Allocation(tenants: [
            "a": TenantAllocation(exclusiveCoreIDs: [2]),
            "b": TenantAllocation(exclusiveCoreIDs: [2]),
        ])
        #expect(throws: PoolError.invalid(field: "b.cores", reason: "CPU 2 is already owned by a")) {
            try allocation.validate(host: host, specs: [])
        }
    }

    @Test func overCapacityNamesTheResource() {
        let allocation = Allocation(tenants: ["be": TenantAllocation(sharedCpuCores: 1, memoryMaxBytes: 7.5e9)])
        #expect(throws: PoolError.overCapacity(kind: .memory, allocated: 7.5e9, capacity: 7e9)) {
            try allocation.validate(host: host, specs: [be])
        }
    }

    @Test func brokenGuaranteeNamesTheTenant() {
        let allocation = Allocation(tenants: ["lc": TenantAllocation(sharedCpuCores: 0.5, memoryMaxBytes: 2e9)])
        #expect(throws: PoolError.guaranteeBroken(tenant: "lc", kind: .cpu, allocated: 0.5, guaranteed: 1)) {
            try allocation.validate(host: host, specs: [lc])
        }
    }

    @Test func specWithGuaranteeAboveCapIsRefused() {
        var spec = lc
        spec.cap.cpuCores = 0.5
        #expect(throws: PoolError.self) { try spec.validate() }
    }

    @Test func hostWithDuplicateCoreIsRefused() {
        var bad = host
        bad.cores.append(Core(id: 3))
        #expect(throws: PoolError.invalid(field: "cores", reason: "CPU 3 is listed twice")) { try bad.validate() }
    }

    @Test func priorWrapsItsSeasonalProfile() {
        let prior = SeasonalPrior(resource: .cpu, stepSeconds: 300, level: 10, seasonalProfile: [1, 2, 3], residualStandardDeviation: 1, historySteps: 3)
        #expect(prior.expected(atSeconds: 0) == 11)
        #expect(prior.expected(atSeconds: 600) == 13)
        #expect(prior.expected(atSeconds: 900) == 11)
        #expect(prior.expected(atSeconds: -300) == 13)
    }
}
