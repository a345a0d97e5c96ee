import ArgumentParser
import CLoop
import Foundation

/// `dpm run`: the agent.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the agent: a millisecond loop from kernel telemetry through forecasts and the solver to cgroup settings."
    )

    @Option(name: .long, help: "The agent's YAML configuration (see deploy/dpm.yaml).")
    var config: String

    @Flag(name: .long, help: "Compute and log what would be applied; write no control file.")
    var dryRun = false

    @Option(name: .long, help: "Stop after this long (for example 30s); without it, run until SIGTERM or SIGINT.")
    var duration: String?

    @Option(name: .long, help: "Append a time series of each tenant's CPU use, forecast and allocation to this file, 10 lines a second per tenant (tab-separated).")
    var record: String?

    @Option(name: .long, help: "Most tenants the agent serves (slots preallocated for the tick).")
    var capacity = 256

    func run() throws {
        let settings: AgentConfig
        do {
            settings = try ConfigParser.load(path: config)
        } catch {
            throw ValidationError(error.description)
        }
        var durationNanoseconds: UInt64?
        if let duration {
            guard let nanoseconds = Units.durationNanoseconds(duration), nanoseconds > 0 else {
                throw ValidationError("--duration: expected a duration such as 30s, got '\(duration)'")
            }
            durationNanoseconds = UInt64(nanoseconds)
        }
        let mode: Agent.Mode = dryRun ? .dryRun : .enforce
        do {
            let log: @Sendable (String) -> Void = { line in
                FileHandle.standardError.write(Data("\(Date().formatted(.iso8601)) dpm: \(line)\n".utf8))
            }
            let (components, notes) = try ComponentFactory.make(config: settings, mode: mode, capacity: capacity)
            for note in notes { log(note) }
            let agent = try Agent(config: settings, mode: mode, components: components, capacity: capacity, log: log)
            try agent.run(durationNanoseconds: durationNanoseconds, recordPath: record)
        } catch {
            FileHandle.standardError.write(Data("dpm run: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
