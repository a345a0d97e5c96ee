import Pool

/// Where a host's cgroup files are and how each knob is spelled there: cgroup v2, or v1 controllers as on a hybrid
/// host. Detected once at start from `/proc/self/mountinfo`.
public struct CgroupBackend: Sendable, Equatable {
    public enum Version: String, Sendable, Equatable { case v1, v2 }

    public var version: Version
    /// v1: mount point of each controller's hierarchy (`cpuset` → `/sys/fs/cgroup/cpuset`); v2: every controller
    /// maps to the one unified mount.
    public var mountPoints: [String: String]
    /// The cgroup v2 mount, also on hybrid hosts: a tenant's v2 directory gives its cgroup id for BPF.
    public var unifiedMountPoint: String?

    /// The CFS period Enforce writes quotas against, in microseconds: 10 ms, a tenth of the kernel's default.
    ///
    /// A tenant held by its quota shows it within a period: it spends the period's budget, is throttled (a switch-out,
    /// so the agent's telemetry publishes the CPU time it ran) and the kernel reports its throttled time when the
    /// period ends. At the default 100 ms a tenant at a 0.1-core guarantee that starts spinning ran 10 ms before its
    /// first switch-out and reported its throttling 100 ms later (reaction median 16.5-99.8 ms, agent benchmark
    /// 2026-11-30); at 10 ms both come within a few milliseconds. The kernel refuses quotas under 1 ms, so at this
    /// period the smallest quota is 0.1 core (`quotaMicroseconds`): a smaller allocation is enforced as a 0.1-core
    /// cap. That was chosen over a period stretched per tenant (1 ms / cores) to keep one period for every tenant,
    /// so a quota's text and its read-back stay one number each; a quota is a cap, not a reservation, and the CPU
    /// weights still divide a contended pool. The cost is a CFS period timer firing every 10 ms instead of 100 ms for
    /// each cgroup using its quota (measured in Benchmarks/agent, 2026-11-30).
    public static let cpuPeriodMicroseconds = 10_000
    /// v1 limits at or above this are the kernel's "unlimited" (it prints 9223372036854771712).
    static let unlimitedThreshold = Double(Int64.max / 2)

    public init(version: Version, mountPoints: [String: String], unifiedMountPoint: String?) {
        self.version = version
        self.mountPoints = mountPoints
        self.unifiedMountPoint = unifiedMountPoint
    }

    /// Reads the mount table and picks the backend: v1 when the cpu, cpuset and memory controllers are mounted as
    /// v1 hierarchies, otherwise v2.
    public static func detect(files: ControlFiles) throws(EnforceError) -> CgroupBackend {
        try detect(mountinfo: files.read("/proc/self/mountinfo"))
    }

    /// The decision of `detect(files:)`, from the text of a mountinfo file.
    public static func detect(mountinfo: String) throws(EnforceError) -> CgroupBackend {
        var v1: [String: String] = [:]
        var unified: String?
        for line in mountinfo.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { continue }
            let mountFields = halves[0].split(separator: " ")
            let fsFields = halves[1].split(separator: " ")
            guard mountFields.count >= 5, fsFields.count >= 3 else { continue }
            let mountPoint = String(mountFields[4])
            switch fsFields[0] {
            case "cgroup2": unified = mountPoint
            case "cgroup":
                for option in fsFields[2].split(separator: ",") where ["cpu", "cpuset", "memory"].contains(option) {
                    v1[String(option)] = mountPoint
                }
            default: continue
            }
        }
        if ["cpu", "cpuset", "memory"].allSatisfy({ v1[$0] != nil }) {
            return CgroupBackend(version: .v1, mountPoints: v1, unifiedMountPoint: unified)
        }
        guard let unified else { throw .controllerMissing("cpu, cpuset and memory") }
        return CgroupBackend(
            version: .v2,
            mountPoints: ["cpu": unified, "cpuset": unified, "memory": unified],
            unifiedMountPoint: unified
        )
    }

    /// The directory of a tenant's cgroup in the hierarchy that holds a controller.
    public func directory(of cgroupPath: String, controller: String) -> String {
        let mount = mountPoints[controller] ?? mountPoints["cpu"] ?? "/sys/fs/cgroup"
        // The common case (`pods/lc`) needs no cleaning; stray slashes are folded.
        let clean = Self.isClean(cgroupPath)
        let relative = clean ? cgroupPath : cgroupPath.split(separator: "/").joined(separator: "/")
        return relative.isEmpty ? mount : mount + "/" + relative
    }

    /// The distinct hierarchy directories of a cgroup (three on v1, one on v2).
    public func directories(of cgroupPath: String) -> [String] {
        var seen: [String] = []
        for controller in ["cpuset", "cpu", "memory"] {
            let directory = directory(of: cgroupPath, controller: controller)
            if !seen.contains(directory) { seen.append(directory) }
        }
        return seen
    }

    /// The file that holds a knob, nil when this backend has none (cgroup v1 has no `memory.min`).
    public func file(_ knob: CgroupKnob, of cgroupPath: String) -> String? {
        let name: String? = switch (version, knob) {
        case (_, .cpus): "cpuset.cpus"
        case (_, .mems): "cpuset.mems"
        case (.v1, .cpuQuota): "cpu.cfs_quota_us"
        case (.v2, .cpuQuota): "cpu.max"
        case (.v1, .cpuWeight): "cpu.shares"
        case (.v2, .cpuWeight): "cpu.weight"
        case (.v1, .memoryMax): "memory.limit_in_bytes"
        case (.v2, .memoryMax): "memory.max"
        case (.v1, .memoryHigh): "memory.soft_limit_in_bytes"
        case (.v2, .memoryHigh): "memory.high"
        case (.v1, .memoryMin): nil
        case (.v2, .memoryMin): "memory.min"
        case (_, .cpuIdle): "cpu.idle"
        }
        return name.map { directory(of: cgroupPath, controller: knob.controller) + "/" + $0 }
    }

    /// The text to write for a knob's value.
    public func encode(_ knob: CgroupKnob, _ value: KnobValue) -> String {
        switch value {
        case let .set(set): return set.description
        case let .amount(amount):
            switch (version, knob) {
            case (.v1, .cpuQuota):
                return amount.isFinite ? String(Self.quotaMicroseconds(amount)) : "-1"
            case (.v2, .cpuQuota):
                let quota = amount.isFinite ? String(Self.quotaMicroseconds(amount)) : "max"
                return "\(quota) \(Self.cpuPeriodMicroseconds)"
            case (.v1, .cpuWeight):
                return String(min(262_144, max(2, Int(amount) * 1024 / 100)))
            case (.v2, .cpuWeight):
                return String(min(10_000, max(1, Int(amount))))
            case (_, .cpuIdle):
                return amount != 0 ? "1" : "0"
            case (.v1, _):
                return amount.isFinite ? String(Self.pageAligned(amount)) : "-1"
            case (.v2, _):
                return amount.isFinite ? String(Self.pageAligned(amount)) : "max"
            }
        }
    }

    /// The value a knob's file holds; nil when the text is not what the kernel writes there.
    public func decode(_ knob: CgroupKnob, _ text: String) -> KnobValue? {
        switch knob {
        case .cpus, .mems:
            return CPUSet(listFormat: text).map(KnobValue.set)
        case .cpuQuota:
            // `cpu.max` holds "QUOTA PERIOD": the first field, without splitting (an array per decode).
            let field = text.firstIndex(of: " ").map { text[..<$0] } ?? text[...]
            if field == "max" || field == "-1" { return .amount(.infinity) }
            guard let quota = Double(field) else { return nil }
            return .amount(quota / Double(Self.cpuPeriodMicroseconds))
        case .cpuWeight:
            guard let raw = Double(text) else { return nil }
            return .amount(version == .v1 ? (raw * 100 / 1024).rounded() : raw)
        case .cpuIdle:
            guard let flag = Int(text), flag == 0 || flag == 1 else { return nil }
            return .amount(Double(flag))
        case .memoryMax, .memoryHigh, .memoryMin:
            if text == "max" || text == "-1" { return .amount(.infinity) }
            guard let bytes = Double(text) else { return nil }
            return .amount(bytes >= Self.unlimitedThreshold ? .infinity : bytes)
        }
    }

    /// A value as the kernel will hold it after the write (quota in whole microseconds, memory in whole pages,
    /// weight through the v1 shares scale): what a read-back must equal.
    public func normalized(_ knob: CgroupKnob, _ value: KnobValue) -> KnobValue {
        decode(knob, encode(knob, value)) ?? value
    }

    /// True when a relative path has no leading, trailing or doubled slash (a byte scan: Foundation's
    /// `contains` would go through NSString on every write).
    static func isClean(_ path: String) -> Bool {
        var previous: UInt8 = UInt8(ascii: "/")
        for byte in path.utf8 {
            if byte == UInt8(ascii: "/") && previous == UInt8(ascii: "/") { return false }
            previous = byte
        }
        return previous != UInt8(ascii: "/")
    }

    /// The quota the kernel holds for `cores` at `cpuPeriodMicroseconds`.
    public static func quotaMicroseconds(_ cores: Double) -> Int {
        // The kernel refuses quotas under 1 ms.
        max(1000, Int((cores * Double(cpuPeriodMicroseconds)).rounded()))
    }

    static func pageAligned(_ bytes: Double) -> Int64 {
        let page: Int64 = 4096
        return max(0, Int64(bytes) / page * page)
    }
}
