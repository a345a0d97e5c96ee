import Pool

/// Reads the host's CPU and NUMA topology from sysfs into a `Pool.HostCapacity`.
///
/// Reading only: online CPUs (`/sys/devices/system/cpu/online`), each CPU's SMT siblings
/// (`cpuN/topology/thread_siblings_list`), NUMA nodes with their CPUs and memory (`/sys/devices/system/node`).
public struct TopologyReader: Sendable {
    public var files: ControlFiles
    public var cpuRoot = "/sys/devices/system/cpu"
    public var nodeRoot = "/sys/devices/system/node"

    public init(files: ControlFiles) {
        self.files = files
    }

    /// The online CPUs.
    public func onlineCPUs() throws(EnforceError) -> CPUSet {
        try parseList(cpuRoot + "/online")
    }

    /// The host's cores (with NUMA node and physical core), memory per node, and no links or reserves: the caller
    /// adds links and housekeeping from its configuration.
    public func hostCapacity() throws(EnforceError) -> HostCapacity {
        let online = try onlineCPUs()
        var nodeOfCPU: [Int: Int] = [:]
        var memoryPerNode: [Double] = []
        let nodes = (try? parseList(nodeRoot + "/online")) ?? [0]
        for node in nodes.members {
            let cpus = (try? parseList("\(nodeRoot)/node\(node)/cpulist")) ?? online
            for cpu in cpus.members { nodeOfCPU[cpu] = node }
            while memoryPerNode.count <= node { memoryPerNode.append(0) }
            memoryPerNode[node] = try nodeMemoryBytes(node)
        }
        var cores: [Core] = []
        for cpu in online.members {
            let siblings = (try? parseList("\(cpuRoot)/cpu\(cpu)/topology/thread_siblings_list")) ?? [cpu]
            cores.append(Core(id: cpu, numaNode: nodeOfCPU[cpu] ?? 0, physicalCoreID: siblings.members.first ?? cpu))
        }
        return HostCapacity(cores: cores, memoryBytesPerNode: memoryPerNode)
    }

    private func parseList(_ path: String) throws(EnforceError) -> CPUSet {
        let text = try files.read(path)
        guard let set = CPUSet(listFormat: text) else { throw .unparsable(path: path, content: text) }
        return set
    }

    /// `MemTotal` of one node (`Node 0 MemTotal:  24576000 kB`), or of the whole host when sysfs has no nodes.
    private func nodeMemoryBytes(_ node: Int) throws(EnforceError) -> Double {
        let path = "\(nodeRoot)/node\(node)/meminfo"
        let text: String
        if let nodeText = try? files.read(path) { text = nodeText } else { text = try files.read("/proc/meminfo") }
        for line in text.split(separator: "\n") where line.contains("MemTotal:") {
            let fields = line.split(separator: " ")
            if let index = fields.firstIndex(of: "MemTotal:"), index + 1 < fields.count, let kib = Double(fields[index + 1]) {
                return kib * 1024
            }
        }
        throw .unparsable(path: path, content: text)
    }
}
