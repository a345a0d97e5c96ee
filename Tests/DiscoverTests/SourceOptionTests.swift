import Discover
import Testing

@Suite struct SourceOptionTests {
    @Test func parsesEveryFormAndItsDefaults() {
        #expect(SourceOption(parsing: "docker") == .docker(socketPath: "/var/run/docker.sock"))
        #expect(SourceOption(parsing: "docker:/run/podman/podman.sock") == .docker(socketPath: "/run/podman/podman.sock"))
        #expect(SourceOption(parsing: "kubernetes") == .kubernetes(scanRoot: "/"))
        #expect(SourceOption(parsing: "kubernetes:/kubepods.slice") == .kubernetes(scanRoot: "/kubepods.slice"))
        #expect(SourceOption(parsing: "qemu:/run/vm1.qmp") == .qemu(qmpSocketPath: "/run/vm1.qmp"))
        #expect(SourceOption(parsing: "vcpu-threads") == .vcpuThreads)
        #expect(SourceOption(parsing: "qemu:/run/vm1.qmp")?.description == "qemu:/run/vm1.qmp")
    }

    @Test(arguments: ["", "podman", "qemu", "docker:", "vcpu-threads:x", "Docker"])
    func refusesAnythingElse(text: String) {
        #expect(SourceOption(parsing: text) == nil)
    }
}
