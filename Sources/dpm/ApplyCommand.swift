import ArgumentParser
import Enforce

/// `dpm apply FILE`: applies a partition document once, transactionally, and prints what changed.
struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply a partition (JSON or YAML) to the tenants' cgroups and links once, and print what changed.",
        discussion: """
        Each tenant names its cgroup (relative to the cgroup root) and the settings to change; absent keys are left \
        as they are. Writes are ordered so every intermediate state is safe; a failed write rolls back. The original \
        value of every file touched is kept in the state file, for `dpm restore`.
        """
    )

    @Argument(help: "The partition document (JSON or YAML).")
    var file: String

    @Option(help: "Where the baseline of touched files is kept.")
    var stateFile: String = Enforcer.defaultStateFilePath

    func run() throws {
        let partition: PartitionDocument.Partition
        do { partition = try PartitionDocument.load(path: file) } catch {
            throw CommandFailure("\(error)")
        }
        do {
            let shapes = !partition.ingressBitsPerSecond.isEmpty || partition.tenants.contains { !$0.bandwidthBitsPerSecond.isEmpty }
            let enforcer = try Enforcer.forThisHost(stateFilePath: stateFile, shapeTraffic: shapes)
            let changes = try enforcer.apply(partition.tenants)
            if changes.isEmpty && partition.ingressBitsPerSecond.isEmpty { print("nothing to change") }
            for change in changes { print(enforcer.describe(change)) }
            for (link, rate) in partition.ingressBitsPerSecond.sorted(by: { $0.key < $1.key }) {
                let device = try enforcer.shapeIngress(link: link, bitsPerSecond: rate)
                print("\(link): everything received shaped to \(Int64(rate)) bit/s through \(device)")
            }
        } catch {
            throw CommandFailure("\(file): \(error)")
        }
    }
}

/// A failure that prints its message and exits with status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
