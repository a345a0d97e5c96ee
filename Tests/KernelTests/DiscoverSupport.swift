import Discover
import Foundation
import Pool

/// A child process started with `posix_spawnp` (Foundation's `Process` loses child exits under Swift Testing's
/// concurrency here): stdin from /dev/null, stdout and stderr to files, so a daemon the command leaves behind
/// (`podman run -d` leaves conmon) cannot hold a pipe open.
struct SpawnedProcess: Sendable {
    let processID: pid_t

    init(_ arguments: [String], standardOutput: String = "/dev/null", standardError: String = "/dev/null") throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // Threads of Swift's runtime block signals and a spawned child inherits the mask: reset it and the handlers,
        // or a child never sees the SIGTERM that ends it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, arguments[0], &actions, &attributes, &argv, environ)
        guard status == 0 else { throw DiscoverTestError(message: "cannot start \(arguments[0]): errno \(status)") }
        processID = pid
    }

    /// Waits for the process to end and returns its exit status (128 + signal when killed).
    @discardableResult
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(processID, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    func terminate() {
        kill(processID, SIGTERM)
        wait()
    }
}

/// Runs a command to completion and returns its standard output; throws with its standard error when it fails.
@discardableResult
func discoverRun(_ arguments: [String], allowFailure: Bool = false) throws -> String {
    let base = NSTemporaryDirectory() + discoverRandomName()
    defer {
        unlink(base + ".out")
        unlink(base + ".err")
    }
    let status = try SpawnedProcess(arguments, standardOutput: base + ".out", standardError: base + ".err").wait()
    let output = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
    if status != 0 && !allowFailure {
        let errors = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        throw DiscoverTestError(message: "\(arguments.joined(separator: " ")) exited \(status): \(errors)")
    }
    return output
}

struct DiscoverTestError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

func discoverRandomName() -> String { "dpm-test-\(UInt32.random(in: 0...UInt32.max))" }

/// A real podman engine for one test: a busybox image imported from a local root filesystem, podman's
/// Docker-compatible API service on a private socket, and containers named with the fixture's prefix.
///
/// `tearDown()` removes the containers, the image, the service and the directory; call it in a `defer`.
final class PodmanFixture: @unchecked Sendable {
    let prefix = discoverRandomName()
    let directory: String
    let socketPath: String
    let image: String
    private let lock = NSLock()
    private var service: SpawnedProcess?

    init() throws {
        directory = NSTemporaryDirectory() + prefix
        socketPath = directory + "/engine.sock"
        image = "localhost/\(prefix):1"
        let rootfs = directory + "/rootfs"
        try FileManager.default.createDirectory(atPath: rootfs + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs + "/bin/busybox")
        for tool in ["sh", "sleep", "yes", "cat"] {
            try FileManager.default.createSymbolicLink(atPath: rootfs + "/bin/" + tool, withDestinationPath: "busybox")
        }
        try discoverRun(["tar", "-C", rootfs, "-cf", directory + "/bb.tar", "."])
        try discoverRun(["podman", "import", directory + "/bb.tar", image])
        try startService()
    }

    /// Starts podman's API service on `socketPath` and waits for the socket.
    func startService() throws {
        let service = try SpawnedProcess(["podman", "system", "service", "--time=0", "unix://" + socketPath])
        lock.withLock { self.service = service }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socketPath) { usleep(50_000) }
        guard FileManager.default.fileExists(atPath: socketPath) else {
            tearDown()
            throw DiscoverTestError(message: "podman system service did not create \(socketPath)")
        }
    }

    /// Stops the API service (the containers keep running) and removes its socket.
    func stopService() {
        guard let service = lock.withLock({ self.service }) else { return }
        service.terminate()
        try? FileManager.default.removeItem(atPath: socketPath)
        lock.withLock { self.service = nil }
    }

    /// Starts a detached container `<prefix>-<name>` and returns its id.
    @discardableResult
    func start(_ name: String, labels: [String: String] = [:], command: [String] = ["sleep", "1000"]) throws -> String {
        var arguments = ["podman", "--runtime", "/usr/sbin/runc", "run", "-d", "--network", "none",
                         "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--name", containerName(name)]
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) { arguments += ["--label", "\(key)=\(value)"] }
        return try discoverRun(arguments + [image] + command).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func stop(_ name: String) throws {
        try discoverRun(["podman", "stop", "-t", "0", containerName(name)])
    }

    func remove(_ name: String) throws {
        try discoverRun(["podman", "rm", "-f", containerName(name)])
    }

    func containerName(_ name: String) -> String { "\(prefix)-\(name)" }

    func tearDown() {
        let names = (try? discoverRun(["podman", "ps", "-a", "--filter", "name=\(prefix)", "--format", "{{.Names}}"], allowFailure: true)) ?? ""
        for name in names.split(separator: "\n") { _ = try? discoverRun(["podman", "rm", "-f", "-t", "0", String(name)], allowFailure: true) }
        _ = try? discoverRun(["podman", "rmi", "-f", image], allowFailure: true)
        stopService()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Collects a `Discovery`'s events while it runs, and waits for conditions on them.
final class DiscoveryWatcher: @unchecked Sendable {
    let discovery: Discovery
    private let lock = NSLock()
    private var latest = TenantTable()
    private var warningsSeen: [DiscoveryWarning] = []
    private var tasks: [Task<Void, Never>] = []

    init(sources: [any TenantSource]) async {
        discovery = Discovery(sources: sources)
        let events = await discovery.events()
        tasks.append(Task { [discovery] in await discovery.run() })
        tasks.append(Task { [weak self] in
            for await event in events {
                guard let self else { return }
                self.lock.withLock {
                    switch event {
                    case let .table(table): self.latest = table
                    case let .warning(warning): self.warningsSeen.append(warning)
                    }
                }
            }
        })
    }

    var table: TenantTable { lock.withLock { latest } }
    var warnings: [DiscoveryWarning] { lock.withLock { warningsSeen } }

    /// Polls every 10 ms until `condition` holds or `timeoutSeconds` pass; returns whether it held.
    func wait(timeoutSeconds: Double = 10, until condition: (TenantTable, [DiscoveryWarning]) -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            let (table, warnings) = lock.withLock { (latest, warningsSeen) }
            if condition(table, warnings) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        let (table, warnings) = lock.withLock { (latest, warningsSeen) }
        return condition(table, warnings)
    }

    func stop() {
        for task in tasks { task.cancel() }
    }
}

/// A cgroup of the test's own in the v2 hierarchy (`dpm-test-<random>`), with children and real processes on demand.
///
/// `remove()` kills the processes it started and removes the cgroups, deepest first; call it in a `defer`.
final class TestCgroup: @unchecked Sendable {
    let cgroups: CgroupFS
    let path: String
    private var created: [String] = []
    private var processes: [SpawnedProcess] = []

    init(cgroups: CgroupFS, name: String = discoverRandomName()) throws {
        self.cgroups = cgroups
        path = "/" + name
        try makeChild("")
    }

    /// Creates `path + relative` (and its parents below `path`) and returns its cgroup path.
    @discardableResult
    func makeChild(_ relative: String) throws -> String {
        var current = path
        let parts = relative.split(separator: "/")
        for part in [""] + parts.map(String.init) {
            if !part.isEmpty { current += "/" + part }
            let directory = cgroups.directory(current)
            if !FileManager.default.fileExists(atPath: directory) {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
                created.append(current)
            }
        }
        return current
    }

    /// Starts `sleep 1000` inside `cgroupPath` (moved there right after it starts) and returns its pid.
    @discardableResult
    func startProcess(in cgroupPath: String) throws -> Int32 {
        let process = try SpawnedProcess(["sleep", "1000"])
        processes.append(process)
        try String(process.processID).write(toFile: cgroups.directory(cgroupPath) + "/cgroup.procs", atomically: false, encoding: .utf8)
        return process.processID
    }

    func remove() {
        for process in processes { process.terminate() }
        for cgroup in created.reversed() { rmdir(cgroups.directory(cgroup)) }
    }
}
