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
/// Central's CPU prior is Predict's: a forecaster built with one starts from its uncertainty (and its level until
/// the first value) and blends the prior's seasonal change into its reference (see `Forecaster`). Predict takes a
/// prior only when a forecaster is built, so a slot gets one in `prepare` (slow side, a joining tenant) and, for a
/// running tenant whose prior changed, in `adopt` (tick thread, at a table change): the slot's CPU model is rebuilt
/// with the new prior and re-anchors on the next value. Forecasters see wall-clock time (CLOCK_MONOTONIC plus the
/// offset measured at start), so the prior's daily phase lines up.
public final class PredictForecaster: DemandForecaster, @unchecked Sendable {
    // Preallocated per slot and used in place: an element of a Swift array of forecasters is copied (with its
    // arrays retained) on each read, which cost a third of the tick's forecasting.
    private let cpu: UnsafeMutableBufferPointer<Forecaster>
    private let memory: UnsafeMutableBufferPointer<Forecaster>
    /// Each slot's memory forecast, recomputed only when memory was measured (not every tick).
    private let memoryForecast: UnsafeMutableBufferPointer<Forecast>
    private let cpuConfiguration: ForecasterConfiguration
    private let memoryConfiguration: ForecasterConfiguration
    /// Seconds since the Unix epoch at CLOCK_MONOTONIC zero.
    private let epochOffsetSeconds: Double

    public init(tickNanoseconds: UInt64, capacity: Int) {
        let step = Double(tickNanoseconds) / 1e9
        // A level rate of 0.05 per tick averages over about 20 ticks; the change detector handles steps.
        cpuConfiguration = ForecasterConfiguration(stepSeconds: step, seasonalPeriods: [], levelRate: 0.05, trendRate: 0.01)
        memoryConfiguration = ForecasterConfiguration(stepSeconds: step * 16, seasonalPeriods: [], levelRate: 0.3, trendRate: 0.02)
        cpu = .filled(capacity, with: Forecaster(configuration: cpuConfiguration))
        memory = .filled(capacity, with: Forecaster(configuration: memoryConfiguration))
        memoryForecast = .filled(capacity, with: .zero)
        var realtime = timespec()
        clock_gettime(CLOCK_REALTIME, &realtime)
        epochOffsetSeconds = Double(realtime.tv_sec) + Double(realtime.tv_nsec) / 1e9 - Double(dpm_monotonic_ns()) / 1e9
    }

    deinit {
        for buffer in [cpu, memory] {
            _ = buffer.deinitialize()
            buffer.deallocate()
        }
        memoryForecast.deallocate()
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
        memoryForecast[slot] = memoryModel.forecast()
    }

    /// Rebuilds the slot's CPU model with `cpuPrior` when it differs from the one it has; no prior keeps the model.
    public func adopt(cpuPrior: SeasonalPrior?, slot: Int) {
        guard let prior = cpuPrior.map({ Self.perTick($0, stepSeconds: cpuConfiguration.stepSeconds) }), cpu[slot].prior != prior else { return }
        cpu[slot] = Forecaster(configuration: cpu[slot].configuration, prior: prior)
    }

    public func observe(slot: Int, usage: ResourceVector, runQueueWaitP99Nanoseconds: Double?, nowNanoseconds: UInt64) -> TenantDemand {
        let seconds = epochOffsetSeconds + Double(nowNanoseconds) / 1e9
        cpu[slot].update(value: usage.cpuCores, atSeconds: seconds)
        if usage.memoryBytes.isFinite {
            memory[slot].update(value: usage.memoryBytes, atSeconds: seconds)
            memoryForecast[slot] = memory[slot].forecastInPlace()
        }
        return TenantDemand(
            cpuCores: cpu[slot].forecastInPlace(),
            memoryBytes: memoryForecast[slot],
            networkBitsPerSecond: .zero,
            measuredRunQueueWaitP99Nanoseconds: runQueueWaitP99Nanoseconds
        )
    }

    /// The prior as a tick-step forecaster starts from it: central's trend is per profile step, the tick's per tick.
    static func perTick(_ prior: SeasonalPrior, stepSeconds: Double) -> SeasonalPrior {
        var scaled = prior
        if prior.stepSeconds > 0 { scaled.trend = prior.trend * stepSeconds / prior.stepSeconds }
        return scaled
    }
}

extension Forecaster {
    /// `forecast()` on a forecaster in a buffer, read in place: a non-mutating call on a buffer's element copies the
    /// whole forecaster first (its arrays retained and released: an eighth of the tick's instructions with 64 tenants,
    /// `TickPriorBenchmark` under callgrind), a mutating one reaches it through the buffer's address.
    fileprivate mutating func forecastInPlace() -> Forecast { forecast() }
}
