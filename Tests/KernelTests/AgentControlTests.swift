import CLoop
import Foundation
import Glibc
import Testing

/// The agent's operator surfaces on the real system: config errors from the binary, the control socket's access
/// checks.
@Suite(.serialized) struct AgentControlTests {
    @Test func aBadConfigFailsWithFileLineAndFieldNamed() throws {
        let file = NSTemporaryDirectory() + "dpm-test-\(UInt32.random(in: 0...UInt32.max)).yaml"
        defer { unlink(file) }
        try "tick: 1ms\nreserve: {cores: [0]}\ntenants:\n  - {name: lc, cgroup: demo/lc, class: latency-critical, slo: {runq_wait_p99: soon}}\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let result = try runCommand(dpmBinary(), ["run", "--config", file, "--dry-run", "--duration", "1s"])
        #expect(result.status != 0)
        #expect(result.error.contains("\(file):4: tenants[0].slo.runq_wait_p99:"), "\(result.error)")
    }

    @Test func theControlSocketIsRootOnlyAndRefusesANonRootPeer() throws {
        let path = "/tmp/dpm-test-\(UInt32.random(in: 0...UInt32.max)).sock"
        let server = try ControlServer(socketPath: path) { _ in Data("{\"ok\":true}".utf8) }
        defer { server.stop() }

        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(info.st_uid == 0)

        // Root is answered.
        #expect(String(decoding: try ControlClient.send(ControlRequest(command: "status"), socketPath: path), as: UTF8.self) == "{\"ok\":true}")

        // As nobody, the socket's mode refuses the connection.
        let denied = try runCommand("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", dpmBinary(), "status", "--socket", path])
        #expect(denied.status != 0)
        #expect(denied.error.contains("Permission denied"), "\(denied.error)")

        // Even when the mode is opened, the peer-credential check refuses a non-root uid.
        chmod(path, 0o666)
        let refused = try runCommand("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", dpmBinary(), "status", "--socket", path])
        #expect(refused.status != 0)
        #expect(refused.error.contains("permission denied: the control API serves uid 0 only"), "\(refused.error)")
    }
}
