import Pool
import Testing

@testable import CLoop

/// The agent's list of retired tenants that Enforce still counts: the order of one housekeeping pass as `Agent` runs
/// it (a tenant retired while the tick still runs the table naming it, then the once-a-second retry, then the next
/// table adopted).
struct LeavingTenantsTests {
    let container = TenantSpec(name: "bench-16", cgroupPath: "libpod_parent/libpod-99b0", tenantClass: .bestEffort)
    let other = TenantSpec(name: "web", cgroupPath: "libpod_parent/libpod-47a8", tenantClass: .burstable)

    /// The leak of 89f5fe8: the retry pass that retired the container saw the served table still naming it and took
    /// that for "back in the table", so the container left the list and Enforce never closed its 10 descriptors.
    @Test func aTenantRetiredWhileTheServedTableStillNamesItIsForgottenOnceANewerTableIsAdopted() {
        var leaving = LeavingTenants()
        let servedBefore: Set = [container.name, other.name]
        leaving.leave(container, nowNanoseconds: 0)
        let gone: (String) -> Bool = { _ in false }

        // Same pass, the once-a-second retry: the tick still runs the table that names it.
        #expect(leaving.takeForgettable(served: servedBefore, cgroupExists: gone).isEmpty)
        #expect(leaving.entries.map(\.spec) == [container])

        // Next pass: the tick adopted the table without it.
        #expect(leaving.takeForgettable(served: [other.name], cgroupExists: gone) == [container])
        #expect(leaving.entries.isEmpty)
    }

    @Test func aTenantWhoseCgroupLingersStaysUntilItIsGone() {
        var leaving = LeavingTenants()
        leaving.leave(container, nowNanoseconds: 0)
        var exists = true
        #expect(leaving.takeForgettable(served: [], cgroupExists: { _ in exists }).isEmpty)
        exists = false
        #expect(leaving.takeForgettable(served: [], cgroupExists: { _ in exists }) == [container])
    }

    @Test func aTenantAdoptedAgainLeavesTheListAndIsNotForgotten() {
        var leaving = LeavingTenants()
        leaving.leave(container, nowNanoseconds: 0)
        leaving.leave(other, nowNanoseconds: 0)
        leaving.readopt(container.name)
        #expect(leaving.takeForgettable(served: [container.name], cgroupExists: { _ in false }) == [other])
        #expect(leaving.entries.isEmpty)
    }

    @Test func aTenantOnTheListLongerThanTheLimitIsReportedOnceWithWhy() {
        var leaving = LeavingTenants()
        leaving.leave(container, nowNanoseconds: 1_000_000_000)
        leaving.leave(other, nowNanoseconds: 50_000_000_000)
        let lingering: (String) -> String? = { path in path == container.cgroupPath ? "/sys/fs/cgroup/cpu/\(path)" : nil }

        #expect(leaving.reportOverdue(nowNanoseconds: 60_000_000_000, limitNanoseconds: 60_000_000_000, served: [], lingering: lingering).isEmpty)
        let lines = leaving.reportOverdue(nowNanoseconds: 61_000_000_000, limitNanoseconds: 60_000_000_000, served: [], lingering: lingering)
        #expect(lines == ["tenant bench-16: retired 60 s ago but Enforce still keeps its state and files: its cgroup directory /sys/fs/cgroup/cpu/libpod_parent/libpod-99b0 still exists"])
        #expect(leaving.reportOverdue(nowNanoseconds: 90_000_000_000, limitNanoseconds: 60_000_000_000, served: [], lingering: lingering).isEmpty)

        let served = leaving.reportOverdue(nowNanoseconds: 111_000_000_000, limitNanoseconds: 60_000_000_000, served: [other.name], lingering: lingering)
        #expect(served == ["tenant web: retired 61 s ago but Enforce still keeps its state and files: the table the tick runs still names it (no newer table adopted)"])
    }
}
