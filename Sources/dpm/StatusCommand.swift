import ArgumentParser
import CLoop
import Foundation

/// `dpm status`: the running agent's pool, loop and tenants.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running agent's allocations, forecasts and SLO state per tenant (root only)."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

    @Option(name: .long, help: "table or json.")
    var format: Format = .table

    @Option(name: .long, help: "The agent's control socket.")
    var socket = AgentConfig().controlSocketPath

    func run() throws {
        do {
            switch format {
            case .json:
                let reply = try ControlClient.send(ControlRequest(command: "status"), socketPath: socket)
                print(String(decoding: reply, as: UTF8.self))
            case .table:
                print(try ControlClient.status(socketPath: socket).table())
            }
        } catch {
            FileHandle.standardError.write(Data("dpm status: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
