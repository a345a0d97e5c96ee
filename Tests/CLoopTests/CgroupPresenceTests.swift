import Foundation
import Testing

@testable import CLoop

/// `CgroupPresence` on a directory tree shaped like a hybrid host's cgroup mounts (the kernel side, a removed
/// cgroup seen through a descriptor still open on it, behaves the same: checked on 6.18, v1 and v2).
@Suite struct CgroupPresenceTests {
    private func makeCgroup(_ directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: "\(directory)/cgroup.procs", contents: Data()))
    }

    private func removeCgroup(_ directory: String) throws {
        try FileManager.default.removeItem(atPath: "\(directory)/cgroup.procs")
        try FileManager.default.removeItem(atPath: directory)
    }

    @Test func aRemovedCgroupIsGoneARecreatedOneIsFoundAndALingeringOneIsNamed() throws {
        let root = NSTemporaryDirectory() + "dpm-test-presence-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let unified = "\(root)/unified/pod/t1", cpu = "\(root)/cpu/pod/t1"
        try makeCgroup(unified)
        try makeCgroup(cpu)
        let presence = CgroupPresence(cgroupRoot: root)
        #expect(presence.directory(of: "pod/t1") == unified)
        #expect(presence.exists("pod/t1") && !presence.exists("pod/t2"))
        // Asked through the descriptor it keeps: the v2 directory removed, the v1 one lingers.
        try removeCgroup(unified)
        #expect(presence.directory(of: "pod/t1") == cpu)
        try removeCgroup(cpu)
        #expect(!presence.exists("pod/t1"))
        // A new cgroup of the same name.
        try makeCgroup(unified)
        #expect(presence.directory(of: "pod/t1") == unified)
        presence.forget("pod/t1")
        #expect(presence.exists("pod/t1"))
    }
}
