import Foundation
import Pool

/// Reads what this host has from sysfs and procfs: online CPUs with their NUMA node and physical core, memory per
/// node. The configuration's reserve and links complete it into a `HostCapacity`.
public enum HostProbe {
    public static func capacity(config: AgentConfig, sysfs: String = "/sys/devices/system") throws(AgentError) -> HostCapacity {
        guard let online = read("\(sysfs)/cpu/online"), let cpuIDs = CPUSet(listFormat: online)?.members, !cpuIDs.isEmpty else {
            throw .system(call: "read \(sysfs)/cpu/online", errno: ENOENT)
        }
        let cores = cpuIDs.map { id in
            Core(
                id: id,
                numaNode: numaNode(ofCPU: id, sysfs: sysfs),
                physicalCoreID: read("\(sysfs)/cpu/cpu\(id)/topology/core_id").flatMap { Int($0) } ?? id
            )
        }
        var memory: [Double] = []
        if let nodes = read("\(sysfs)/node/online").flatMap({ CPUSet(listFormat: $0)?.members }) {
            for node in nodes {
                let bytes = read("\(sysfs)/node/node\(node)/meminfo").flatMap { memTotalKilobytes($0) }.map { $0 * 1024 } ?? 0
                if memory.count <= node { memory += Array(repeating: 0, count: node + 1 - memory.count) }
                memory[node] = bytes
            }
        }
        if memory.reduce(0, +) == 0, let total = read("/proc/meminfo").flatMap(memTotalKilobytes) { memory = [total * 1024] }
        let host = HostCapacity(
            cores: cores, memoryBytesPerNode: memory, links: config.links, housekeepingCoreIDs: config.reserve.coreIDs,
            reservedMemoryBytes: config.reserve.memoryBytes, reservedBandwidthBitsPerSecond: config.reserve.bandwidthBitsPerSecond
        )
        do {
            try host.validate()
        } catch {
            throw .config(ConfigError(file: "(host)", line: 0, field: "reserve", reason: error.description))
        }
        return host
    }

    private static func numaNode(ofCPU id: Int, sysfs: String) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "\(sysfs)/cpu/cpu\(id)")) ?? []
        return entries.first { $0.hasPrefix("node") }.flatMap { Int($0.dropFirst(4)) } ?? 0
    }

    private static func memTotalKilobytes(_ text: String) -> Double? {
        guard let line = text.split(separator: "\n").first(where: { $0.contains("MemTotal:") }) else { return nil }
        return line.split(separator: " ").compactMap { Double($0) }.first
    }

    static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
