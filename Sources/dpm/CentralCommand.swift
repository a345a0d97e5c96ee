import ArgumentParser
import Central
import Dispatch
import Foundation
import Synchronization

/// `dpm central`: the central forecasting service and its host tokens.
struct CentralCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "central",
        abstract: "The central forecasting service: collects edge history, learns priors, serves them back.",
        subcommands: [Serve.self, Token.self]
    )

    struct StoreOption: ParsableArguments {
        @Option(name: .long, help: "Store: sqlite:PATH (default) or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.")
        var db: String = "sqlite:/var/lib/dpm/central.sqlite"

        func location() throws -> StoreLocation {
            do { return try StoreLocation(parsing: db) } catch { throw ValidationError(error.description) }
        }
    }

    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve the central API until SIGTERM or SIGINT.")

        @OptionGroup var store: StoreOption
        @Option(help: "Address to listen on.") var bind: String = "127.0.0.1"
        @Option(help: "Port to listen on (0: any free port).") var port: Int = 8470
        @Option(help: "Requests per second each host may make on average.") var ratePerSecond: Double = 5
        @Option(help: "Requests a host may make in a burst.") var rateBurst: Double = 30
        @Option(help: "Largest request body accepted, in bytes.") var maxBodyBytes: Int = 4 << 20
        @Option(help: "Step of learnt profiles, in seconds.") var stepSeconds: Int = 300
        @Option(help: "Minimum seconds between two fits of one tenant.") var refitSeconds: Double = 600
        @Option(help: "Minimum seconds between two recomputations of the workload class priors.") var classRecomputeSeconds: Double = 60

        func run() throws {
            var configuration = CentralConfiguration()
            configuration.bindHost = bind
            configuration.port = port
            configuration.ratePerSecond = ratePerSecond
            configuration.rateBurst = rateBurst
            configuration.limits.maxBodyBytes = maxBodyBytes
            configuration.learner.stepSeconds = stepSeconds
            configuration.learner.refitSeconds = refitSeconds
            configuration.learner.classRecomputeSeconds = classRecomputeSeconds
            let location = try store.location()
            let settings = configuration
            try runBlocking {
                let store = try await location.open()
                let service = try await CentralService.start(store: store, configuration: settings, stopOnSignals: true)
                // Unbuffered, so a supervisor or a script reading our output sees it at once.
                FileHandle.standardOutput.write(Data("dpm central: serving on \(settings.bindHost):\(service.port), store \(location)\n".utf8))
                try await service.wait()
                try await store.close()
            }
        }
    }

    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Manage edge host tokens.", subcommands: [Add.self])

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Create or replace HOST's bearer token; prints it once (only its SHA-256 is stored)."
            )

            @OptionGroup var store: StoreOption
            @Argument(help: "Host id: letters, digits, '.', '_', '-'.") var host: String

            func run() throws {
                do { try RequestValidator().validateHostID(host) } catch { throw ValidationError(error.description) }
                let location = try store.location()
                let host = self.host
                try runBlocking {
                    let store = try await location.open()
                    let token = HostToken.generate()
                    try await store.setTokenHash(host: host, sha256: HostToken.sha256(token), createdAtSeconds: Int64(Date().timeIntervalSince1970))
                    try await store.close()
                    print(token)
                }
            }
        }
    }
}

/// Runs async work from a synchronous command and waits for it (the root command is not async).
private func runBlocking(_ work: @escaping @Sendable () async throws -> Void) throws {
    let failure = Mutex<(any Error)?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        do { try await work() } catch { failure.withLock { $0 = error } }
        done.signal()
    }
    done.wait()
    if let error = failure.withLock({ $0 }) { throw error }
}
