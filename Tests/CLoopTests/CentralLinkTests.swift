import CentralSync
import Foundation
import Pool
import Testing

@testable import CLoop

/// The agent's side of central sync that needs no kernel and no network: the `central:` block, the workload
/// label, the interval summaries, and what a prior does to a forecast.
@Suite struct CentralLinkTests {
    @Test func theCentralBlockParsesWithItsDefaults() throws {
        let text = """
        state_dir: /var/lib/dpm
        central: {url: http://127.0.0.1:8470, token_file: /etc/dpm/central-token}
        tenants:
          - {name: web, cgroup: x/web, class: burstable, workload: frontend}
          - {name: be, cgroup: x/be, class: best-effort}
        """
        let config = try ConfigParser.parse(text, file: "c.yaml")
        let central = try #require(config.central)
        #expect(central.url.absoluteString == "http://127.0.0.1:8470")
        #expect(central.tokenFile == "/etc/dpm/central-token")
        #expect(central.hostID == nil)
        #expect(central.intervalSeconds == 60)
        #expect(central.priorRefreshSeconds == 600)
        #expect(central.spoolDirectory == nil)
        #expect(config.workload(of: config.tenants[0]) == "frontend")
        #expect(config.workload(of: config.tenants[1]) == "best-effort")
        #expect(try ConfigParser.parse("tick: 1ms\n", file: "c.yaml").central == nil)
    }

    @Test func everyCentralFieldIsRead() throws {
        let text = """
        central:
          url: https://central.example:9000/
          token_file: /run/secrets/token
          host_id: edge-7.rack_2
          interval: 1m
          prior_refresh: 90s
          spool_dir: /var/spool/dpm
        """
        let central = try #require(try ConfigParser.parse(text, file: "c.yaml").central)
        #expect(central.url.host == "central.example")
        #expect(central.hostID == "edge-7.rack_2")
        #expect(central.intervalSeconds == 60)
        #expect(central.priorRefreshSeconds == 90)
        #expect(central.spoolDirectory == "/var/spool/dpm")
    }

    private static let second: UInt64 = 1_000_000_000
    /// 2026-11-30 00:00:00 UTC, a whole minute.
    private static let epoch: UInt64 = 1_796_083_200 * second

    private func reading(_ tenant: String, _ cpuNanoseconds: UInt64) -> UsageIntervals.Reading {
        UsageIntervals.Reading(tenant: TenantDescriptor(tenant: tenant, tenantClass: .burstable, workload: "web"), cpuNanosecondsTotal: cpuNanoseconds)
    }

    @Test func readsFoldIntoOneSummaryPerTenantAndEpochAlignedInterval() throws {
        var intervals = UsageIntervals(intervalSeconds: 60)
        let start = Self.epoch + 30 * Self.second
        // Tenant a uses 0.5 core for 29 reads, then 2 cores for one; b uses nothing.
        var cpu: UInt64 = 0
        #expect(intervals.add([reading("a", cpu), reading("b", 7)], atEpochNanoseconds: start).isEmpty)
        for index in 1...29 {
            cpu += index == 29 ? 3 * Self.second / 2 : Self.second / 2
            #expect(intervals.add([reading("a", cpu), reading("b", 7)], atEpochNanoseconds: start + UInt64(index) * Self.second).isEmpty)
        }
        #expect(intervals.openIntervalStart == Int64(Self.epoch / Self.second))
        let closed = intervals.add([reading("a", cpu), reading("b", 7)], atEpochNanoseconds: Self.epoch + 60 * Self.second + 1)
        #expect(closed.map(\.tenant) == ["a", "b"])
        let a = closed[0]
        #expect(a.startSeconds == Int64(Self.epoch / Self.second) && a.intervalSeconds == 60 && a.resource == .cpu)
        #expect(a.workload == "web" && a.tenantClass == .burstable)
        #expect(abs(a.p50 - 0.5) < 1e-9 && abs(a.p95 - 0.5) < 1e-9 && abs(a.max - 1.5) < 1e-9)
        #expect(abs(a.mean - (28 * 0.5 + 1.5) / 29) < 1e-9)
        #expect(closed[1].max == 0)
        #expect(intervals.openIntervalStart == Int64(Self.epoch / Self.second) + 60)
    }

    @Test func aTenantMissingFromAReadStartsAFreshBaselineAndAClockStepBackClosesNothing() {
        var intervals = UsageIntervals(intervalSeconds: 1)
        let t0 = Self.epoch
        _ = intervals.add([reading("a", 0)], atEpochNanoseconds: t0)
        _ = intervals.add([reading("a", Self.second / 10)], atEpochNanoseconds: t0 + Self.second / 5)
        // a vanishes for one read, then comes back in a reused slot whose total restarted.
        _ = intervals.add([], atEpochNanoseconds: t0 + 2 * Self.second / 5)
        _ = intervals.add([reading("a", 10 * Self.second)], atEpochNanoseconds: t0 + 3 * Self.second / 5)
        // The wall clock steps back into the previous second: still the open interval.
        #expect(intervals.add([reading("a", 10 * Self.second)], atEpochNanoseconds: t0 - Self.second / 2).isEmpty)
        let closed = intervals.add([reading("a", 10 * Self.second)], atEpochNanoseconds: t0 + Self.second)
        // Only the one sample before the gap counts (0.5 core); the jump to 10 s of CPU was a new baseline.
        #expect(closed.count == 1)
        #expect(closed.first.map { abs($0.max - 0.5) < 1e-9 } == true, "\(closed)")
        // The next interval holds a's read at t0 + 1 s; a, absent since, is then forgotten: no summary after.
        #expect(intervals.add([], atEpochNanoseconds: t0 + 2 * Self.second).map(\.tenant) == ["a"])
        #expect(intervals.add([], atEpochNanoseconds: t0 + 3 * Self.second).isEmpty)
    }

    @Test func aNewTenantStartsFromItsPriorAndARunningOneTakesANewPriorAtATableChange() {
        let tick: UInt64 = 1_000_000
        let forecaster = PredictForecaster(tickNanoseconds: tick, capacity: 4)
        let spec = TenantSpec(name: "web", cgroupPath: "x/web", tenantClass: .burstable)
        let prior = SeasonalPrior(resource: .cpu, stepSeconds: 300, level: 2, trend: 0.3, residualStandardDeviation: 0.2, historySteps: 0)
        forecaster.prepare(slot: 0, spec: spec, cpuPrior: prior)
        forecaster.prepare(slot: 1, spec: spec, cpuPrior: nil)
        forecaster.prepare(slot: 2, spec: spec, cpuPrior: nil)
        forecaster.prepare(slot: 3, spec: spec, cpuPrior: prior)
        let idle = ResourceVector(cpuCores: 0, memoryBytes: .nan)
        func observe(_ slot: Int, _ index: Int) -> TenantDemand {
            forecaster.observe(slot: slot, usage: idle, runQueueWaitP99Nanoseconds: nil, nowNanoseconds: UInt64(index) * tick)
        }
        // An idle newcomer: without a prior its model has seen no error and asks for nothing; with one, it keeps the
        // prior's uncertainty as headroom.
        let withPrior = observe(0, 1), without = observe(1, 1)
        _ = observe(3, 1)
        #expect(without.cpuCores.atQuantile == 0)
        #expect(withPrior.cpuCores.atQuantile > 0.05, "\(withPrior)")
        // A running tenant's model takes a prior handed over at a table change (the same prior again changes nothing).
        for index in 1...50 { _ = observe(2, index) }
        #expect(observe(2, 51).cpuCores.atQuantile == 0)
        forecaster.adopt(cpuPrior: prior, slot: 2)
        let adopted = observe(2, 52)
        #expect(adopted.cpuCores.atQuantile > 0.05, "\(adopted)")
        // Slot 0 adopts the prior it was prepared with: it goes on exactly like slot 3, which adopted nothing.
        forecaster.adopt(cpuPrior: prior, slot: 0)
        for index in 2...20 { #expect(observe(0, index) == observe(3, index)) }
        // The prior's trend is per 5-minute step; a tick-step forecaster starts with it per tick.
        #expect(abs(PredictForecaster.perTick(prior, stepSeconds: 0.001).trend - 0.3 / 300_000) < 1e-15)
    }
}
