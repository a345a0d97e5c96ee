@testable import Enforce
import Testing

@Suite struct CgroupBackendTests {
    static let hybridMountinfo = """
    31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
    32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
    34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
    35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
    """

    @Test func detectsTheHybridLayoutAsV1() throws {
        let backend = try CgroupBackend.detect(mountinfo: Self.hybridMountinfo)
        #expect(backend == .v1Hybrid)
        #expect(backend.file(.cpuQuota, of: "pods/lc") == "/sys/fs/cgroup/cpu/pods/lc/cpu.cfs_quota_us")
        #expect(backend.file(.memoryMin, of: "pods/lc") == nil)
    }

    @Test func detectsAPureV2Host() throws {
        let backend = try CgroupBackend.detect(mountinfo: "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate")
        #expect(backend == .v2)
        #expect(backend.file(.cpuQuota, of: "/pods/lc/") == "/sys/fs/cgroup/pods/lc/cpu.max")
        #expect(backend.directories(of: "pods/lc") == ["/sys/fs/cgroup/pods/lc"])
        #expect(backend.directory(of: "pods//lc", controller: "cpu") == "/sys/fs/cgroup/pods/lc")
        #expect(backend.directory(of: "", controller: "cpu") == "/sys/fs/cgroup")
    }

    @Test func refusesAHostWithoutCgroups() {
        #expect(throws: EnforceError.controllerMissing("cpu, cpuset and memory")) {
            try CgroupBackend.detect(mountinfo: "1 0 0:1 / / rw - ext4 /dev/sda rw")
        }
    }

    @Test func encodesEachKnobForV2() {
        let backend = CgroupBackend.v2
        #expect(backend.encode(.cpuQuota, .amount(0.2)) == "2000 10000")
        #expect(backend.encode(.cpuQuota, .amount(.infinity)) == "max 10000")
        #expect(backend.encode(.memoryMax, .amount(209_715_200)) == "209715200")
        #expect(backend.encode(.memoryHigh, .amount(.infinity)) == "max")
        #expect(backend.encode(.cpuWeight, .amount(100)) == "100")
        #expect(backend.decode(.cpuQuota, "max 100000") == .amount(.infinity))
        #expect(backend.decode(.cpuQuota, "5000 10000") == .amount(0.5))
    }

    @Test func encodesEachKnobForV1() {
        let backend = CgroupBackend.v1Hybrid
        #expect(backend.encode(.cpuQuota, .amount(0.2)) == "2000")
        #expect(backend.encode(.cpuQuota, .amount(.infinity)) == "-1")
        #expect(backend.encode(.cpuWeight, .amount(100)) == "1024")
        #expect(backend.encode(.memoryMax, .amount(1000.0 + 8192)) == "8192")
        #expect(backend.decode(.memoryMax, "9223372036854771712") == .amount(.infinity))
        #expect(backend.normalized(.memoryMax, .amount(.infinity)) == .amount(.infinity))
        #expect(backend.decode(.cpuWeight, "2048") == .amount(200))
        #expect(backend.encode(.cpus, .set([1, 2, 3])) == "1-3")
    }
}
