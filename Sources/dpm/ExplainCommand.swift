import ArgumentParser
import CLoop
import Foundation

/// `dpm explain TENANT`: why a tenant has what it has.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain a tenant's allocation: forecast, binding constraints, cost terms, last changes and why (root only)."
    )

    @Argument(help: "The tenant's name.")
    var tenant: String

    @Option(name: .long, help: "text or json.")
    var format: String = "text"

    @Option(name: .long, help: "The agent's control socket.")
    var socket = AgentConfig().controlSocketPath

    func run() throws {
        do {
            if format == "json" {
                print(String(decoding: try ControlClient.send(ControlRequest(command: "explain", tenant: tenant), socketPath: socket), as: UTF8.self))
            } else {
                print(try ControlClient.explain(tenant: tenant, socketPath: socket).text())
            }
        } catch {
            FileHandle.standardError.write(Data("dpm explain: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
