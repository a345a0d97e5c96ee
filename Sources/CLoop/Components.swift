import Glibc
import Pool

/// Chooses the module implementations for `dpm run`: BPF telemetry (or the cgroup accounting files when BPF cannot
/// be loaded, or when the configuration asks for them), Predict, Solve, and Enforce (or the dry-run enforcer).
public enum ComponentFactory {
    /// The components, plus a line per choice for the log.
    public static func make(config: AgentConfig, mode: Agent.Mode, capacity: Int) throws(AgentError) -> (components: Agent.Components, notes: [String]) {
        var notes: [String] = []
        let telemetry: any TelemetrySource
        switch config.telemetry {
        case .cgroupFiles:
            telemetry = CgroupUsageTelemetry(cgroupRoot: config.cgroupRoot, capacity: capacity)
        case .bpf:
            do {
                telemetry = try BPFTelemetry(cgroupRoot: config.cgroupRoot, capacity: capacity)
            } catch {
                throw .unavailable(module: "BPF telemetry", reason: "\(error)")
            }
        case .auto:
            do {
                telemetry = try BPFTelemetry(cgroupRoot: config.cgroupRoot, capacity: capacity)
            } catch {
                notes.append("BPF telemetry unavailable (\(error)); using cgroup accounting files (no run-queue wait)")
                telemetry = CgroupUsageTelemetry(cgroupRoot: config.cgroupRoot, capacity: capacity)
            }
        }
        let enforcer: any AllocationEnforcing
        if mode == .dryRun {
            enforcer = DryRunEnforcer()
        } else {
            do {
                let host = try HostProbe.capacity(config: config)
                enforcer = try EnforceApplier(
                    host: host, stateDirectory: config.stateDirectory, links: config.links, manageMemory: config.memoryLimits, soak: config.idleSoak
                )
            } catch {
                telemetry.close()
                throw .unavailable(module: "Enforce", reason: "\(error)")
            }
        }
        let components = Agent.Components(
            telemetry: telemetry,
            forecaster: PredictForecaster(tickNanoseconds: config.tickNanoseconds, capacity: capacity),
            solver: SolvePlanner(manageMemory: config.memoryLimits),
            enforcer: enforcer
        )
        return (components, notes)
    }
}
