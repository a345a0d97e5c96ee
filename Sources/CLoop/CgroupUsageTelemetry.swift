import Glibc

/// Telemetry from the kernel's cgroup accounting files: CPU time (`cpuacct.usage` on v1, `cpu.stat` usage_usec on
/// v2), memory in use (`memory.usage_in_bytes` / `memory.current`) and quota throttling (`CpuThrottleFiles`). It
/// measures no run-queue wait.
///
/// The source the agent falls back to when the BPF programs cannot be loaded. Files are opened once on the slow
/// side and read with `pread` on the tick into a stack buffer; memory is read every `memoryEveryTicks` ticks,
/// since it moves slowly and costs a read per tenant.
public final class CgroupUsageTelemetry: TelemetrySource, @unchecked Sendable {
    public let sourceName = "cgroup-files"
    private let cgroupRoot: String
    private let unifiedOnly: Bool
    private let memoryEveryTicks: UInt64 = 16
    private var cpuFiles: [Int32]
    private var memoryFiles: [Int32]
    /// Last cumulative CPU reading per slot (ns), to turn readings into per-interval deltas.
    private var lastCpu: [UInt64]
    private var hasReading: [Bool]
    private var attached: [Bool]
    private let throttling: CpuThrottleFiles
    private var drains: UInt64 = 0

    /// - Parameter cgroupRoot: where the cgroup file systems are mounted (`/sys/fs/cgroup`).
    public init(cgroupRoot: String, capacity: Int) {
        self.cgroupRoot = cgroupRoot
        // A hybrid host has a cpuacct v1 hierarchy; a pure v2 host has cgroup.controllers at the root.
        unifiedOnly = access("\(cgroupRoot)/cpuacct/cpuacct.usage", R_OK) != 0
        cpuFiles = Array(repeating: -1, count: capacity)
        memoryFiles = Array(repeating: -1, count: capacity)
        lastCpu = Array(repeating: 0, count: capacity)
        hasReading = Array(repeating: false, count: capacity)
        attached = Array(repeating: false, count: capacity)
        throttling = CpuThrottleFiles(cgroupRoot: cgroupRoot, capacity: capacity)
    }

    public func attach(slot: Int, cgroupPath: String) throws {
        detach(slot: slot)
        let cpuPath = unifiedOnly ? "\(cgroupRoot)/\(cgroupPath)/cpu.stat" : "\(cgroupRoot)/cpuacct/\(cgroupPath)/cpuacct.usage"
        let memoryPath = unifiedOnly ? "\(cgroupRoot)/\(cgroupPath)/memory.current" : "\(cgroupRoot)/memory/\(cgroupPath)/memory.usage_in_bytes"
        let cpu = open(cpuPath, O_RDONLY | O_CLOEXEC)
        guard cpu >= 0 else { throw AgentError.socket(path: cpuPath, call: "open", errno: errno) }
        cpuFiles[slot] = cpu
        memoryFiles[slot] = open(memoryPath, O_RDONLY | O_CLOEXEC)
        hasReading[slot] = false
        attached[slot] = true
        throttling.attach(slot: slot, cgroupPath: cgroupPath)
    }

    public func detach(slot: Int) {
        if cpuFiles[slot] >= 0 { Glibc.close(cpuFiles[slot]) }
        if memoryFiles[slot] >= 0 { Glibc.close(memoryFiles[slot]) }
        cpuFiles[slot] = -1
        memoryFiles[slot] = -1
        attached[slot] = false
        throttling.detach(slot: slot)
    }

    public func drain(into frame: TelemetryFrame, nowNanoseconds: UInt64) {
        drains &+= 1
        let readMemory = drains % memoryEveryTicks == 1
        for slot in 0..<cpuFiles.count where attached[slot] {
            guard let cumulative = readCpuNanoseconds(cpuFiles[slot]) else {
                frame.vanished[slot] = true
                continue
            }
            if hasReading[slot], cumulative >= lastCpu[slot] { frame.cpuNanoseconds[slot] = cumulative - lastCpu[slot] }
            lastCpu[slot] = cumulative
            hasReading[slot] = true
            if readMemory, memoryFiles[slot] >= 0, let bytes = Self.readNumber(memoryFiles[slot], after: nil) {
                frame.memoryBytes[slot] = Double(bytes)
            }
        }
        throttling.read(into: frame, nowNanoseconds: nowNanoseconds)
    }

    public func close() {
        for slot in 0..<cpuFiles.count { detach(slot: slot) }
    }

    private func readCpuNanoseconds(_ fd: Int32) -> UInt64? {
        if unifiedOnly { return Self.readNumber(fd, after: "usage_usec ").map { $0 &* 1000 } }
        return Self.readNumber(fd, after: nil)
    }

    /// Reads the file from offset 0 into a stack buffer and parses the decimal number at its start, or after the
    /// first occurrence of `key` (a static string, so no allocation). Nil when the read fails (the cgroup is gone).
    static func readNumber(_ fd: Int32, after key: StaticString?) -> UInt64? {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 512) { buffer -> UInt64? in
            let count = pread(fd, buffer.baseAddress, buffer.count, 0)
            guard count > 0 else { return nil }
            var index = 0
            if let key {
                guard let found = find(key, in: buffer, count: count) else { return nil }
                index = found
            }
            var value: UInt64 = 0
            var digits = 0
            while index < count, buffer[index] >= 48, buffer[index] <= 57 {
                value = value &* 10 &+ UInt64(buffer[index] - 48)
                index += 1
                digits += 1
            }
            return digits > 0 ? value : nil
        }
    }

    /// The index just past the first occurrence of `key` in the first `count` bytes.
    private static func find(_ key: StaticString, in buffer: UnsafeMutableBufferPointer<UInt8>, count: Int) -> Int? {
        let length = key.utf8CodeUnitCount
        let keyBytes = key.utf8Start
        guard length > 0, count >= length else { return nil }
        for start in 0...(count - length) {
            var matches = true
            for offset in 0..<length where buffer[start + offset] != keyBytes[offset] {
                matches = false
                break
            }
            if matches { return start + length }
        }
        return nil
    }
}
