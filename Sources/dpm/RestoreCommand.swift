import ArgumentParser
import Enforce

/// `dpm restore`: puts back every control file `dpm apply` (or the agent) touched, as it was found.
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Put back the original value of every cgroup file dpm touched and remove its traffic shaping."
    )

    @Option(help: "The state file that holds the baseline.")
    var stateFile: String = Enforcer.defaultStateFilePath

    func run() throws {
        do {
            let enforcer: Enforcer
            do {
                enforcer = try Enforcer.forThisHost(stateFilePath: stateFile, shapeTraffic: true)
            } catch {
                // Without BPF (no bpffs, no CAP_BPF) there is no shaping to take down: restore the files.
                enforcer = try Enforcer.forThisHost(stateFilePath: stateFile)
            }
            let report = enforcer.restore()
            for path in report.restoredPaths { print("restored \(path)") }
            if report.restoredPaths.isEmpty { print("nothing to restore") }
            for failure in report.failures { print("could not restore: \(failure)") }
            if !report.failures.isEmpty { throw CommandFailure("\(report.failures.count) file(s) could not be restored") }
        } catch let error as EnforceError {
            throw CommandFailure("\(error)")
        }
    }
}
