import Pool

/// Chooses the module implementations for `dpm run`.
///
/// - Important: the seams below are filled by the real modules as they land in this package (telemetry through
///   BPFLoader, Predict, Solve, Enforce). Until a module is present, asking for it fails with `.unavailable`: the
///   agent never substitutes a made-up implementation.
public enum ComponentFactory {
    public static func make(config: AgentConfig, mode: Agent.Mode, capacity: Int) throws(AgentError) -> Agent.Components {
        let telemetry = CgroupUsageTelemetry(cgroupRoot: config.cgroupRoot, capacity: capacity)
        let forecaster = try makeForecaster(config: config, capacity: capacity)
        let solver = try makeSolver(config: config)
        let enforcer: any AllocationEnforcing = mode == .dryRun ? DryRunEnforcer() : try makeEnforcer(config: config)
        return Agent.Components(telemetry: telemetry, forecaster: forecaster, solver: solver, enforcer: enforcer)
    }

    static func makeForecaster(config: AgentConfig, capacity: Int) throws(AgentError) -> any DemandForecaster {
        throw .unavailable(module: "Predict", reason: "the Predict module has not landed in this build yet")
    }

    static func makeSolver(config: AgentConfig) throws(AgentError) -> any AllocationSolving {
        throw .unavailable(module: "Solve", reason: "the Solve module has not landed in this build yet")
    }

    static func makeEnforcer(config: AgentConfig) throws(AgentError) -> any AllocationEnforcing {
        throw .unavailable(module: "Enforce", reason: "the Enforce module has not landed in this build yet; use --dry-run")
    }
}
