import Discover
import Foundation
import Pool
import Testing

/// MicroVM discovery against a real QEMU (TCG, one host thread per vCPU) and real named threads.
@Suite(.serialized)
struct DiscoverMicroVMTests {
    @Test func qemuVCPUThreadsAreFoundThroughQMPAndCanBePinnedOneByOne() async throws {
        let cgroups = CgroupFS.detect()
        let cgroup = try TestCgroup(cgroups: cgroups)
        defer { cgroup.remove() }
        let directory = NSTemporaryDirectory() + discoverRandomName()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/qmp.sock"
        let qemu = try SpawnedProcess([
            "qemu-system-x86_64", "-accel", "tcg,thread=multi", "-smp", "2", "-m", "64", "-nographic", "-nodefaults",
            "-name", "dpm-test-vm,debug-threads=on", "-qmp", "unix:\(socketPath),server,nowait",
        ])
        defer { qemu.terminate() }
        try String(qemu.processID).write(toFile: cgroups.directory(cgroup.path) + "/cgroup.procs", atomically: false, encoding: .utf8)
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socketPath) { try await Task.sleep(for: .milliseconds(50)) }

        let scan = try await QEMUSource(qmpSocketPaths: [socketPath], cgroups: cgroups).scan()
        #expect(scan.warnings.isEmpty)
        let vm = try #require(scan.tenants.first)
        #expect(vm.name == "qemu/dpm-test-vm")
        #expect(vm.processID == qemu.processID)
        #expect(vm.spec.cgroupPath == cgroup.path)
        #expect(vm.cgroupID == (try cgroups.cgroupID(cgroup.path)))
        #expect(vm.spec.pinnedThreadIDs.count == 2)
        for (index, threadID) in vm.spec.pinnedThreadIDs.enumerated() {
            let taskDirectory = "/proc/\(qemu.processID)/task/\(threadID)"
            let comm = try String(contentsOfFile: taskDirectory + "/comm", encoding: .utf8)
            #expect(comm.hasPrefix("CPU \(index)/"))
            // Enforce does the pinning; here taskset's sched_setaffinity(tid) proves the ids are per-thread handles.
            try discoverRun(["taskset", "-p", "-c", String(index), String(threadID)])
            let status = try String(contentsOfFile: taskDirectory + "/status", encoding: .utf8)
            #expect(status.split(separator: "\n").contains("Cpus_allowed_list:\t\(index)"))
        }
        let processStatus = try String(contentsOfFile: "/proc/\(qemu.processID)/status", encoding: .utf8)
        #expect(!processStatus.split(separator: "\n").contains("Cpus_allowed_list:\t0"))
    }

    /// With the fallback look once a minute, only events can reflect a VM within a second: its QMP socket created
    /// (inotify on the socket's directory) and its QMP connection ending when QEMU exits.
    @Test func aQEMUStartAndStopReachTheTableWithinASecondThroughInotifyAndQMP() async throws {
        let cgroups = CgroupFS.detect()
        let directory = NSTemporaryDirectory() + discoverRandomName()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/qmp.sock"
        let watcher = await DiscoveryWatcher(sources: [QEMUSource(qmpSocketPaths: [socketPath], cgroups: cgroups, pollIntervalSeconds: 60)])
        defer { watcher.stop() }
        #expect(await watcher.wait { _, warnings in warnings.contains { $0.message.contains("QEMU at \(socketPath) cannot be queried") } })

        let qemu = try SpawnedProcess([
            "qemu-system-x86_64", "-accel", "tcg,thread=multi", "-smp", "2", "-m", "64", "-nographic", "-nodefaults",
            "-name", "dpm-test-vm", "-qmp", "unix:\(socketPath),server,nowait",
        ])
        var running = true
        defer { if running { qemu.terminate() } }
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socketPath) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(await watcher.wait(timeoutSeconds: 1) { table, _ in table["qemu/dpm-test-vm"]?.spec.pinnedThreadIDs.count == 2 })
        #expect(watcher.table["qemu/dpm-test-vm"]?.processID == qemu.processID)

        qemu.terminate()
        running = false
        #expect(await watcher.wait(timeoutSeconds: 1) { table, _ in table.tenants.isEmpty })
    }

    @Test func unreachableQMPSocketIsAWarningNotAFailure() async throws {
        let missing = NSTemporaryDirectory() + discoverRandomName() + ".qmp"
        let scan = try await QEMUSource(qmpSocketPaths: [missing]).scan()
        #expect(scan.tenants.isEmpty)
        #expect(scan.warnings.count == 1)
        #expect(scan.warnings.first?.message.contains(missing) == true)
    }

    @Test func firecrackerVCPUThreadsAreFoundByName() async throws {
        let started = DispatchSemaphore(value: 0), finish = DispatchSemaphore(value: 0)
        let threadIDs = VCPUThreadIDs()
        for index in 0..<2 {
            let thread = Thread {
                // /proc/thread-self is "<pid>/task/<tid>"; writing its comm names this thread.
                let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")) ?? ""
                let threadID = Int32(link.split(separator: "/").last ?? "") ?? -1
                try? "fc_vcpu \(index)".write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
                threadIDs.set(index, threadID)
                started.signal()
                finish.wait()
            }
            thread.start()
        }
        started.wait()
        started.wait()
        defer {
            finish.signal()
            finish.signal()
        }
        let scan = try await VCPUThreadSource().scan()
        let vm = try #require(scan.tenants.first { $0.processID == getpid() })
        #expect(vm.name == "firecracker/\(getpid())")
        #expect(vm.spec.pinnedThreadIDs == [threadIDs.get(0), threadIDs.get(1)])
        #expect(vm.spec.cgroupPath == (try CgroupFS.detect().cgroupPath(ofProcess: getpid())))
    }
}

private final class VCPUThreadIDs: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [Int: Int32] = [:]
    func set(_ index: Int, _ id: Int32) { lock.withLock { ids[index] = id } }
    func get(_ index: Int) -> Int32 { lock.withLock { ids[index] ?? -1 } }
}
