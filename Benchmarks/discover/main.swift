// Discovery benchmark, watching side: runs `Discovery` with one Docker source and prints every tenant that enters or
// leaves the merged table, with the wall-clock time in nanoseconds, until it is terminated.
//
//     added NAME UNIX_NANOSECONDS
//     retired NAME UNIX_NANOSECONDS
//
// `Benchmarks/discover/run.sh` starts and stops the containers, matches these lines against its own timestamps and
// samples this process's open file descriptors and resident memory from /proc.
//
// Usage (root): discover-benchmark SOCKET
import Discover
import Foundation

guard CommandLine.arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: discover-benchmark SOCKET\n".utf8))
    exit(2)
}

/// Writes one line straight to standard output (unbuffered: the script reads the lines as they come).
func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func unixNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

let discovery = Discovery(sources: [DockerSource(socketPath: CommandLine.arguments[1])])
let events = await discovery.events()
let runner = Task { await discovery.run() }
var known = Set<String>()
emit("ready \(unixNanoseconds())")
for await event in events {
    switch event {
    case let .table(table):
        let now = unixNanoseconds()
        let names = Set(table.tenants.map(\.name))
        for name in names.subtracting(known).sorted() { emit("added \(name) \(now)") }
        for name in known.subtracting(names).sorted() { emit("retired \(name) \(now)") }
        known = names
    case let .warning(warning):
        FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
    }
}
runner.cancel()
