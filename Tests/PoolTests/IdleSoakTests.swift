import Pool
import Testing

@Suite struct IdleSoakTests {
    let allocation = Allocation(tenants: [
        "web": TenantAllocation(exclusiveCoreIDs: [3, 1]),
        "db": TenantAllocation(exclusiveCoreIDs: [2]),
        "batch": TenantAllocation(sharedCpuCores: 0.5),
    ])

    @Test func bestEffortSoaksEveryOwnedCoreUnderTheOwnedCoresPolicy() {
        #expect(allocation.idleSoakCoreIDs(for: .bestEffort, policy: .ownedCores) == [1, 2, 3])
        #expect(IdleSoakPolicy.ownedCores.runsAtIdlePriority(.bestEffort))
    }

    @Test func otherClassesAndThePolicyOffSoakNothing() {
        #expect(allocation.idleSoakCoreIDs(for: .burstable, policy: .ownedCores).isEmpty)
        #expect(allocation.idleSoakCoreIDs(for: .latencyCritical, policy: .ownedCores).isEmpty)
        #expect(allocation.idleSoakCoreIDs(for: .bestEffort, policy: .off).isEmpty)
        #expect(!IdleSoakPolicy.off.runsAtIdlePriority(.bestEffort))
        #expect(!IdleSoakPolicy.ownedCores.runsAtIdlePriority(.burstable))
    }

    @Test func noOwnedCoreMeansNothingToSoak() {
        let shared = Allocation(tenants: ["batch": TenantAllocation(sharedCpuCores: 2)])
        #expect(shared.idleSoakCoreIDs(for: .bestEffort, policy: .ownedCores).isEmpty)
    }
}
