import Foundation

/// Two network namespaces the test made, joined by a veth pair: `a` (10.77.0.1 on `veth-a`) and `b` (10.77.0.2 on
/// `veth-b`). `remove()` deletes both namespaces (and with them the pair).
final class EnforceTestNetwork {
    let a: String, b: String
    let linkA = "veth-a", linkB = "veth-b"
    let addressA = "10.77.0.1", addressB = "10.77.0.2"

    init() throws {
        let tag = UInt32.random(in: 0...UInt32.max)
        a = "dpm-test-\(tag)-a"
        b = "dpm-test-\(tag)-b"
        try run("ip", "netns", "add", a)
        try run("ip", "netns", "add", b)
        try run("ip", "-n", a, "link", "add", linkA, "type", "veth", "peer", "name", linkB, "netns", b)
        try run("ip", "-n", a, "addr", "add", addressA + "/24", "dev", linkA)
        try run("ip", "-n", b, "addr", "add", addressB + "/24", "dev", linkB)
        for (namespace, link) in [(a, linkA), (b, linkB)] {
            try run("ip", "-n", namespace, "link", "set", link, "up")
            try run("ip", "-n", namespace, "link", "set", "lo", "up")
        }
    }

    var namespacePathA: String { "/var/run/netns/\(a)" }

    func remove() {
        _ = try? run("ip", "netns", "del", a)
        _ = try? run("ip", "netns", "del", b)
    }

    /// Runs a command to completion and returns its standard output; throws when it fails.
    @discardableResult
    func run(_ arguments: String...) throws -> String {
        try Self.run(arguments)
    }

    struct CommandFailed: Error { var command: [String]; var status: Int32; var output: String }

    /// - Parameter keepingStandardError: false to return standard output alone (JSON, without the warnings).
    static func run(_ arguments: [String], keepingStandardError: Bool = true) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = keepingStandardError ? pipe : FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CommandFailed(command: arguments, status: process.terminationStatus, output: output) }
        return output
    }
}
