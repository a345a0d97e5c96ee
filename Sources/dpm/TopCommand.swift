import ArgumentParser
import CLoop
import Foundation

/// `dpm top`: a live view of the running agent.
struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "A live terminal view of the running agent, refreshed several times a second (root only; Ctrl-C quits)."
    )

    @Option(name: .long, help: "Refresh interval (at most 250ms keeps it at 4 or more refreshes a second).")
    var interval = "200ms"

    @Option(name: .long, help: "Stop after this many refreshes (0: run until interrupted).")
    var count = 0

    @Option(name: .long, help: "The agent's control socket.")
    var socket = AgentConfig().controlSocketPath

    func run() throws {
        guard let nanoseconds = Units.durationNanoseconds(interval), nanoseconds >= 10_000_000 else {
            throw ValidationError("--interval: expected a duration of at least 10ms, got '\(interval)'")
        }
        var refreshes = 0
        while count == 0 || refreshes < count {
            let screen: String
            do {
                screen = try ControlClient.status(socketPath: socket).table()
            } catch {
                FileHandle.standardError.write(Data("dpm top: \(error)\n".utf8))
                throw ExitCode.failure
            }
            // Home the cursor and clear the screen, then draw.
            FileHandle.standardOutput.write(Data(("\u{1B}[H\u{1B}[2J" + screen + "\n").utf8))
            refreshes += 1
            usleep(useconds_t(nanoseconds / 1000))
        }
    }
}
