import ArgumentParser

/// The `dpm` command: one subcommand per job, each in its own file.
@main
struct DPM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dpm",
        abstract: "Dynamic Partitioning Manager: divide a host's cores, memory and bandwidth among its tenants.",
        subcommands: [TelemetryCommand.self, ReplayCommand.self, SolveCommand.self, ApplyCommand.self, RestoreCommand.self, CentralCommand.self]
    )
}
