import CLoopSystem
import Glibc
import Predict
import Pool

/// The forecaster seam filled by Predict: one streaming `Forecaster` per tenant slot for CPU and one for memory.
///
/// CPU is fed every tick (step = the tick) without seasonality: at a millisecond step the signal is the tenant's
/// recent level and bursts, which Predict's level, error scale and change detector follow; its change detector
/// re-anchors the level at once when a tenant starts or stops spinning. Memory is fed only when the telemetry
/// measured it. The quantile follows the tenant's class: latency-critical tenants are sized for 1% shortfall,
/// burstable for 5%, best-effort for 20%.
///
/// Central's CPU prior (minutes to weeks) enters twice: a tenant prepared with one starts from its level and
/// residual size instead of from nothing, and every tick the prior's expectation for the current time of day is
/// the reference that Predict's ensemble weighs against the local models by their recent errors. The tick sets a
/// slot's prior itself when it adopts a table (`adopt`) and evaluates it once per profile step, not per tick: in
/// between it reads a cached number. Forecasters see wall-clock time (CLOCK_MONOTONIC plus the offset measured at
/// start), so the prior's daily phase lines up.
public final class PredictForecaster: DemandForecaster, @unchecked Sendable {
    private var cpu: [Forecaster]
    private var memory: [Forecaster]
    private let cpuConfiguration: ForecasterConfiguration
    private let memoryConfiguration: ForecasterConfiguration
    /// Seconds since the Unix epoch at CLOCK_MONOTONIC zero.
    private let epochOffsetSeconds: Double
    /// Per slot, the prior of the table the tick runs with (tick thread only).
    private var cpuPriors: [SeasonalPrior?]
    /// Per slot, the prior's expectation (NaN: no prior) and until when it holds (the end of its profile step).
    private let reference: UnsafeMutableBufferPointer<Double>
    private let referenceUntilSeconds: UnsafeMutableBufferPointer<Double>

    public init(tickNanoseconds: UInt64, capacity: Int) {
        let step = Double(tickNanoseconds) / 1e9
        // A level rate of 0.05 per tick averages over about 20 ticks; the change detector handles steps.
        cpuConfiguration = ForecasterConfiguration(stepSeconds: step, seasonalPeriods: [], levelRate: 0.05, trendRate: 0.01)
        memoryConfiguration = ForecasterConfiguration(stepSeconds: step * 16, seasonalPeriods: [], levelRate: 0.3, trendRate: 0.02)
        cpu = Array(repeating: Forecaster(configuration: cpuConfiguration), count: capacity)
        memory = Array(repeating: Forecaster(configuration: memoryConfiguration), count: capacity)
        var realtime = timespec()
        clock_gettime(CLOCK_REALTIME, &realtime)
        epochOffsetSeconds = Double(realtime.tv_sec) + Double(realtime.tv_nsec) / 1e9 - Double(dpm_monotonic_ns()) / 1e9
        cpuPriors = [SeasonalPrior?](repeating: nil, count: capacity)
        reference = .allocate(capacity: capacity)
        reference.initialize(repeating: .nan)
        referenceUntilSeconds = .allocate(capacity: capacity)
        referenceUntilSeconds.initialize(repeating: .infinity)
    }

    deinit {
        reference.deallocate()
        referenceUntilSeconds.deallocate()
    }

    /// Share of demand allowed above the forecast at quantile, per class.
    static func shortfallTarget(_ tenantClass: TenantClass) -> Double {
        switch tenantClass {
        case .latencyCritical: 0.01
        case .burstable: 0.05
        case .bestEffort: 0.2
        }
    }

    public func prepare(slot: Int, spec: TenantSpec, cpuPrior: SeasonalPrior?) {
        var cpuModel = Forecaster(configuration: cpuConfiguration, prior: cpuPrior.map { Self.perTick($0, stepSeconds: cpuConfiguration.stepSeconds) })
        cpuModel.setShortfallTarget(Self.shortfallTarget(spec.tenantClass))
        cpu[slot] = cpuModel
        var memoryModel = Forecaster(configuration: memoryConfiguration)
        memoryModel.setShortfallTarget(Self.shortfallTarget(spec.tenantClass))
        memory[slot] = memoryModel
    }

    public func adopt(cpuPrior: SeasonalPrior?, slot: Int) {
        cpuPriors[slot] = cpuPrior
        reference[slot] = .nan
        referenceUntilSeconds[slot] = cpuPrior == nil ? .infinity : -.infinity
    }

    public func observe(slot: Int, usage: ResourceVector, runQueueWaitP99Nanoseconds: Double?, nowNanoseconds: UInt64) -> TenantDemand {
        let seconds = epochOffsetSeconds + Double(nowNanoseconds) / 1e9
        if seconds >= referenceUntilSeconds[slot] { refreshReference(slot: slot, atSeconds: seconds) }
        let reference = self.reference[slot]
        cpu[slot].update(value: usage.cpuCores, atSeconds: seconds, reference: reference)
        if usage.memoryBytes.isFinite { memory[slot].update(value: usage.memoryBytes, atSeconds: seconds) }
        return TenantDemand(
            cpuCores: cpu[slot].forecast(reference: reference),
            memoryBytes: memory[slot].forecast(),
            networkBitsPerSecond: .zero,
            measuredRunQueueWaitP99Nanoseconds: runQueueWaitP99Nanoseconds
        )
    }

    /// Evaluates the slot's prior at `seconds` and notes when its profile step ends (never, without a profile).
    private func refreshReference(slot: Int, atSeconds seconds: Double) {
        guard let prior = cpuPriors[slot] else { return }
        reference[slot] = prior.expected(atSeconds: seconds)
        guard !prior.seasonalProfile.isEmpty, prior.stepSeconds > 0 else {
            referenceUntilSeconds[slot] = .infinity
            return
        }
        let step = ((seconds - prior.profileEpochSeconds) / prior.stepSeconds).rounded(.down)
        referenceUntilSeconds[slot] = prior.profileEpochSeconds + (step + 1) * prior.stepSeconds
    }

    /// The prior as a tick-step forecaster starts from it: central's trend is per profile step, the tick's per tick.
    static func perTick(_ prior: SeasonalPrior, stepSeconds: Double) -> SeasonalPrior {
        var scaled = prior
        if prior.stepSeconds > 0 { scaled.trend = prior.trend * stepSeconds / prior.stepSeconds }
        return scaled
    }
}
