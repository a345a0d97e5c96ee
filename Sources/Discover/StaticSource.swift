import Pool

/// One tenant the operator declares, or a family of them through a cgroup glob.
///
/// Values use the formats of the Docker labels (`SpecLabels`): `cpu.min: 500m`, `memory.max: 2Gi`,
/// `slo.runq-p99: 500us`. A `cgroup` with glob characters (`*`, `?`, `[`) names every matching v2 cgroup directory;
/// each match becomes a tenant called `<name>/<last path component>`.
public struct StaticTenant: Sendable, Hashable, Codable {
    public var name: String
    /// A cgroup path relative to the cgroup root, or a glob of them.
    public var cgroup: String
    /// `latency-critical`, `burstable` (the default) or `best-effort`.
    public var tenantClass: String?
    public var cpuMin: String?
    public var cpuMax: String?
    public var memoryMin: String?
    public var memoryMax: String?
    public var sloRunQueueP99: String?

    enum CodingKeys: String, CodingKey {
        case name, cgroup, tenantClass = "class", cpuMin = "cpu.min", cpuMax = "cpu.max"
        case memoryMin = "memory.min", memoryMax = "memory.max", sloRunQueueP99 = "slo.runq-p99"
    }

    public init(
        name: String, cgroup: String, tenantClass: String? = nil, cpuMin: String? = nil, cpuMax: String? = nil,
        memoryMin: String? = nil, memoryMax: String? = nil, sloRunQueueP99: String? = nil
    ) {
        self.name = name
        self.cgroup = cgroup
        self.tenantClass = tenantClass
        self.cpuMin = cpuMin
        self.cpuMax = cpuMax
        self.memoryMin = memoryMin
        self.memoryMax = memoryMax
        self.sloRunQueueP99 = sloRunQueueP99
    }

    var isGlob: Bool { cgroup.contains(where: { "*?[".contains($0) }) }

    /// The entry's values as label-style keys (`class`, `cpu.min`, …) for `SpecLabels`.
    var specLabels: [String: String] {
        let pairs: [(CodingKeys, String?)] = [
            (.tenantClass, tenantClass), (.cpuMin, cpuMin), (.cpuMax, cpuMax),
            (.memoryMin, memoryMin), (.memoryMax, memoryMax), (.sloRunQueueP99, sloRunQueueP99),
        ]
        return Dictionary(uniqueKeysWithValues: pairs.compactMap { key, value in value.map { (key.rawValue, $0) } })
    }
}

/// Tenants the operator lists in the configuration, by cgroup path or glob.
///
/// Followed by polling (`pollIntervalSeconds`): a glob picks up cgroups as they appear, and a listed cgroup that
/// vanishes retires its tenant. A listed cgroup that does not exist is warned about and left out.
public struct StaticSource: TenantSource {
    public let tenants: [StaticTenant]
    public let id: SourceID
    public let cgroups: CgroupFS
    public let pollIntervalSeconds: Double

    /// `location` names where the list came from (the config file) in warnings and `dpm tenants`.
    public init(tenants: [StaticTenant], location: String = "", cgroups: CgroupFS = .detect(), pollIntervalSeconds: Double = 1) {
        self.tenants = tenants
        self.id = SourceID(kind: .static, location: location)
        self.cgroups = cgroups
        self.pollIntervalSeconds = pollIntervalSeconds
    }

    public func scan() async throws(DiscoveryError) -> SourceScan {
        var scan = SourceScan()
        for entry in tenants {
            let matches: [(name: String, cgroupPath: String)]
            if entry.isGlob {
                let prefix = cgroups.v2Root
                matches = System.glob(cgroups.directory(entry.cgroup)).sorted().map { directory in
                    let path = String(directory.dropFirst(prefix.count))
                    return ("\(entry.name)/\(path.split(separator: "/").last.map(String.init) ?? path)", path)
                }
            } else {
                matches = [(entry.name, entry.cgroup.hasPrefix("/") ? entry.cgroup : "/" + entry.cgroup)]
            }
            for match in matches {
                let cgroupID: UInt64
                do throws(DiscoveryError) {
                    cgroupID = try cgroups.cgroupID(match.cgroupPath)
                } catch {
                    scan.warnings.append(DiscoveryWarning(source: id, tenant: match.name, message: "cgroup \(match.cgroupPath) is not there: \(error)"))
                    continue
                }
                let (spec, warnings) = SpecLabels.spec(
                    name: match.name, cgroupPath: match.cgroupPath, defaultClass: .burstable,
                    labels: entry.specLabels, prefix: "", source: id
                )
                scan.tenants.append(DiscoveredTenant(spec: spec, source: id, cgroupID: cgroupID, runtimeID: entry.cgroup))
                scan.warnings += warnings
            }
        }
        return scan
    }

    public func updates() -> AsyncStream<SourceUpdate> {
        PollingUpdates.stream(of: self, intervalSeconds: pollIntervalSeconds)
    }
}
