import Pool

/// What Enforce controls of one tenant's cgroup, independent of cgroup version.
///
/// Every field is optional: nil means "leave as is". Unlimited amounts are `.infinity`.
public struct CgroupSettings: Sendable, Hashable, Codable {
    /// CPUs the tenant's tasks may run on (`cpuset.cpus`).
    public var cpus: CPUSet?
    /// NUMA nodes the tenant's memory comes from (`cpuset.mems`).
    public var mems: CPUSet?
    /// CPU time per period, in cores (`cpu.max` / `cpu.cfs_quota_us` over `CgroupBackend.cpuPeriodMicroseconds`).
    public var cpuQuotaCores: Double?
    /// Relative weight under contention, on the v2 scale 1–10000 (v1 `cpu.shares` = weight × 1024 / 100).
    /// The kernel refuses a weight for a cgroup at idle priority: leave it nil when `cpuIdle` is true.
    public var cpuWeight: Int?
    /// Whether the tenant runs at idle priority (`cpu.idle`, v1 and v2): the scheduler runs it only when nothing
    /// else on a CPU wants to, and any other waking task preempts it (`Pool.IdleSoakPolicy`).
    public var cpuIdle: Bool?
    /// Hard memory limit (`memory.max` / `memory.limit_in_bytes`).
    public var memoryMaxBytes: Double?
    /// Reclaim-first threshold (`memory.high` / `memory.soft_limit_in_bytes`).
    public var memoryHighBytes: Double?
    /// Memory protected from reclaim (`memory.min`; cgroup v1 has no such file and ignores it).
    public var memoryMinBytes: Double?

    public init(
        cpus: CPUSet? = nil, mems: CPUSet? = nil, cpuQuotaCores: Double? = nil, cpuWeight: Int? = nil, cpuIdle: Bool? = nil,
        memoryMaxBytes: Double? = nil, memoryHighBytes: Double? = nil, memoryMinBytes: Double? = nil
    ) {
        self.cpus = cpus
        self.mems = mems
        self.cpuQuotaCores = cpuQuotaCores
        self.cpuWeight = cpuWeight
        self.cpuIdle = cpuIdle
        self.memoryMaxBytes = memoryMaxBytes
        self.memoryHighBytes = memoryHighBytes
        self.memoryMinBytes = memoryMinBytes
    }
}

/// One controllable setting of a cgroup.
public enum CgroupKnob: String, CaseIterable, Sendable, Codable {
    case cpus, mems, cpuQuota, cpuWeight, memoryMax, memoryHigh, memoryMin, cpuIdle

    /// The knob's position in `allCases` (an index into per-knob arrays).
    var position: Int {
        switch self {
        case .cpus: 0
        case .mems: 1
        case .cpuQuota: 2
        case .cpuWeight: 3
        case .memoryMax: 4
        case .memoryHigh: 5
        case .memoryMin: 6
        case .cpuIdle: 7
        }
    }

    /// The cgroup v1 controller (hierarchy) whose file holds this knob.
    var controller: String {
        switch self {
        case .cpus, .mems: "cpuset"
        case .cpuQuota, .cpuWeight, .cpuIdle: "cpu"
        case .memoryMax, .memoryHigh, .memoryMin: "memory"
        }
    }
}

/// One setting's value, as the backends encode it.
public enum KnobValue: Sendable, Hashable, Codable {
    case set(CPUSet)
    case amount(Double)
}

extension CgroupSettings {
    /// The value of one knob, nil when unmanaged.
    public subscript(knob: CgroupKnob) -> KnobValue? {
        get {
            switch knob {
            case .cpus: cpus.map(KnobValue.set)
            case .mems: mems.map(KnobValue.set)
            case .cpuQuota: cpuQuotaCores.map(KnobValue.amount)
            case .cpuWeight: cpuWeight.map { .amount(Double($0)) }
            case .memoryMax: memoryMaxBytes.map(KnobValue.amount)
            case .memoryHigh: memoryHighBytes.map(KnobValue.amount)
            case .memoryMin: memoryMinBytes.map(KnobValue.amount)
            case .cpuIdle: cpuIdle.map { .amount($0 ? 1 : 0) }
            }
        }
        set {
            func amount() -> Double? { if case let .amount(x) = newValue { x } else { nil } }
            func set() -> CPUSet? { if case let .set(s) = newValue { s } else { nil } }
            switch knob {
            case .cpus: cpus = set()
            case .mems: mems = set()
            case .cpuQuota: cpuQuotaCores = amount()
            case .cpuWeight: cpuWeight = amount().map { Int($0) }
            case .memoryMax: memoryMaxBytes = amount()
            case .memoryHigh: memoryHighBytes = amount()
            case .memoryMin: memoryMinBytes = amount()
            case .cpuIdle: cpuIdle = amount().map { $0 != 0 }
            }
        }
    }
}
