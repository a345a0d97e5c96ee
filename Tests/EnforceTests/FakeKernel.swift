import Enforce
import Foundation
import Pool
import Synchronization

/// Plays the kernel for unit tests: control files are strings in memory, every write is logged, and a test can
/// make a path fail with an errno (swift-system's mocking idea).
final class FakeKernel: KernelCalls {
    struct State {
        var files: [String: String] = [:]
        var descriptors: [Int32: String] = [:]
        var nextDescriptor: Int32 = 3
        var writes: [(path: String, value: String)] = []
        var failing: [String: Int32] = [:]
        var affinity: [Int32: CPUSet] = [:]
        var migrations: [(Int32, CPUSet, CPUSet)] = []
    }
    let state = Mutex(State())

    init(files: [String: String] = [:]) {
        state.withLock { $0.files = files }
    }

    var writes: [(path: String, value: String)] { state.withLock { $0.writes } }
    subscript(path: String) -> String? {
        get { state.withLock { $0.files[path] } }
        set { state.withLock { $0.files[path] = newValue } }
    }
    func fail(_ path: String, errno: Int32) { state.withLock { $0.failing[path] = errno } }

    func openForWriting(_ path: String) -> Int32 {
        state.withLock { state in
            guard state.files[path] != nil else { return -ENOENT }
            let descriptor = state.nextDescriptor
            state.nextDescriptor += 1
            state.descriptors[descriptor] = path
            return descriptor
        }
    }

    func write(descriptor: Int32, value: String) -> Int32 {
        state.withLock { state in
            guard let path = state.descriptors[descriptor] else { return EBADF }
            if let errno = state.failing[path] { return errno }
            state.files[path] = value
            state.writes.append((path, value))
            return 0
        }
    }

    func close(descriptor: Int32) { _ = state.withLock { $0.descriptors.removeValue(forKey: descriptor) } }

    func openForReading(_ path: String) -> Int32 {
        state.withLock { state in
            guard state.files[path] != nil else { return -ENOENT }
            let descriptor = state.nextDescriptor
            state.nextDescriptor += 1
            state.descriptors[descriptor] = path
            return descriptor
        }
    }

    func read(descriptor: Int32) -> Result<String, ErrnoCode> {
        state.withLock { state in
            guard let path = state.descriptors[descriptor] else { return .failure(ErrnoCode(EBADF)) }
            guard let text = state.files[path] else { return .failure(ErrnoCode(ENODEV)) }
            return .success(text + "\n")
        }
    }

    func makeDirectory(_ path: String) -> Int32 { 0 }
    func removeDirectory(_ path: String) -> Int32 { 0 }

    func setThreadAffinity(threadID: Int32, cpus: CPUSet) -> Int32 {
        state.withLock { $0.affinity[threadID] = cpus }
        return 0
    }

    func threadAffinity(threadID: Int32) -> Result<CPUSet, ErrnoCode> {
        state.withLock { $0.affinity[threadID] }.map { .success($0) } ?? .failure(ErrnoCode(ESRCH))
    }

    /// A thread's `/proc/TID/stat` line with its start time (field 22); the command name holds a space and a
    /// parenthesis, as vCPU threads' names do.
    func startThread(_ threadID: Int32, startTime: Int, affinity: CPUSet) {
        let fields = (4...21).map(String.init).joined(separator: " ")
        self["/proc/\(threadID)/stat"] = "\(threadID) (CPU 0/KVM) S \(fields) \(startTime) 0 0"
        state.withLock { $0.affinity[threadID] = affinity }
    }

    func migratePages(processID: Int32, fromNodes: CPUSet, toNodes: CPUSet) -> Int32 {
        state.withLock { $0.migrations.append((processID, fromNodes, toNodes)) }
        return 0
    }

    /// A v1 hybrid host's files for some cgroups: cpuset, cpu and memory at their defaults.
    static func v1(cgroups: [String], cpus: String = "0-3") -> FakeKernel {
        var files: [String: String] = [:]
        for cgroup in cgroups {
            let cpuset = "/sys/fs/cgroup/cpuset/\(cgroup)", cpu = "/sys/fs/cgroup/cpu/\(cgroup)", memory = "/sys/fs/cgroup/memory/\(cgroup)"
            files["\(cpuset)/cgroup.procs"] = ""
            files["\(cpuset)/cpuset.cpus"] = cpus
            files["\(cpuset)/cpuset.mems"] = "0"
            files["\(cpu)/cgroup.procs"] = ""
            files["\(cpu)/cpu.cfs_quota_us"] = "-1"
            files["\(cpu)/cpu.cfs_period_us"] = "100000"
            files["\(cpu)/cpu.shares"] = "1024"
            files["\(cpu)/cpu.idle"] = "0"
            files["\(memory)/cgroup.procs"] = ""
            files["\(memory)/memory.limit_in_bytes"] = "9223372036854771712"
            files["\(memory)/memory.soft_limit_in_bytes"] = "9223372036854771712"
            files["\(memory)/memory.usage_in_bytes"] = "1048576"
        }
        return FakeKernel(files: files)
    }
}

extension CgroupBackend {
    static let v1Hybrid = CgroupBackend(
        version: .v1,
        mountPoints: ["cpu": "/sys/fs/cgroup/cpu", "cpuset": "/sys/fs/cgroup/cpuset", "memory": "/sys/fs/cgroup/memory"],
        unifiedMountPoint: "/sys/fs/cgroup/unified"
    )
    static let v2 = CgroupBackend(
        version: .v2,
        mountPoints: ["cpu": "/sys/fs/cgroup", "cpuset": "/sys/fs/cgroup", "memory": "/sys/fs/cgroup"],
        unifiedMountPoint: "/sys/fs/cgroup"
    )
}
