import Discover
import Foundation
import Pool

/// Everything `dpm run` is told by its configuration file (see `deploy/dpm.yaml` for the documented example).
public struct AgentConfig: Sendable, Equatable {
    /// Period of the control loop.
    public var tickNanoseconds: UInt64 = 1_000_000
    /// CPUs, memory and bandwidth kept back for the system and the agent.
    public var reserve = Reserve()
    /// Links whose egress is divided among tenants.
    public var links: [Link] = []
    /// Tenants from the static source (the configuration file itself).
    public var tenants: [TenantSpec] = []
    /// Tenant sources followed while the agent runs (containers, pods, microVMs); a static tenant of the same name
    /// wins.
    public var sources: [SourceOption] = []
    /// Objectives per class, for discovered tenants whose labels set none (static tenants have them applied).
    public var classObjectives: [TenantClass: ServiceLevelObjective] = [:]
    /// When the solver runs.
    public var solvePolicy: SolvePolicy = .onChange(relativeThreshold: 0.1)
    /// Solves that moving forecasts trigger are held to one per this interval on average, in bursts of up to four
    /// (a table change or a missed objective solves at once): bounds the solver's share of the tick when forecasts
    /// are noisy, yet lets a rise that shows over two or three ticks solve on each of them.
    public var solveMinimumIntervalNanoseconds: UInt64 = 5_000_000
    /// How big and how old a change must be before it is applied.
    public var hysteresis = Hysteresis()
    /// Real-time priority of the tick thread (SCHED_FIFO); nil keeps it at normal priority.
    public var realtimePriority: Int32? = 50
    /// CPU the tick thread is pinned to; nil means the first housekeeping core (or none when there is none).
    public var tickCPU: Int?
    /// Local TCP port of the Prometheus endpoint (bound to 127.0.0.1); nil disables it.
    public var metricsPort: UInt16? = 9464
    /// Unix socket of the control API (mode 0600, root peers only).
    public var controlSocketPath = "/run/dpm/control.sock"
    /// Root of the cgroup file systems; tenant paths are relative to it.
    public var cgroupRoot = "/sys/fs/cgroup"
    /// Where the agent keeps its state (Enforce's baseline file).
    public var stateDirectory = "/run/dpm"
    /// Where per-tenant counters come from.
    public var telemetry: TelemetryChoice = .auto
    /// Whether memory limits follow the forecasts (off: each tenant keeps its configured memory cap).
    public var memoryLimits = false
    /// Whether best-effort tenants run at idle priority and soak up the idle cycles of cores that latency-critical
    /// tenants own (`best_effort: {soak_owned_cores: …}`; off by default until measured on a quiet host, see
    /// `Pool.IdleSoakPolicy`).
    public var idleSoak: IdleSoakPolicy = .off
    /// Workload label of each static tenant (by name) that central groups tenants by for class priors; a tenant
    /// without one (and every discovered tenant) is labelled with its class name (`workload(of:)`).
    public var workloads: [String: String] = [:]
    /// The central forecasting service this agent uploads history to and takes priors from; nil: none.
    public var central: Central?

    /// Telemetry sources.
    public enum TelemetryChoice: String, Sendable, Equatable, CaseIterable {
        /// BPF when it loads, else the cgroup files.
        case auto
        /// The BPF programs (CPU time and run-queue wait per tenant); fail when they cannot load.
        case bpf
        /// The cgroup accounting files (CPU time and memory; no run-queue wait).
        case cgroupFiles = "cgroup-files"
    }

    public init() {}

    /// The workload label central files `spec` under: its configured `workload`, else its class name.
    public func workload(of spec: TenantSpec) -> String { workloads[spec.name] ?? spec.tenantClass.rawValue }

    /// Where and how often the agent talks to the central service (`central:` in the file).
    public struct Central: Sendable, Equatable {
        /// Base address of the service, `http://` or `https://`.
        public var url: URL
        /// File holding this host's bearer token (`dpm central token add HOST` prints it); read at start.
        public var tokenFile: String
        /// This host's id at central; nil: the host name.
        public var hostID: String?
        /// Length of one summarised interval and the upload period, in whole seconds.
        public var intervalSeconds = 60
        /// How often priors are fetched, in seconds.
        public var priorRefreshSeconds = 600.0
        /// Spool of uploads central has not acknowledged; nil: `central-spool` under the state directory.
        public var spoolDirectory: String?

        public init(url: URL, tokenFile: String) {
            self.url = url
            self.tokenFile = tokenFile
        }
    }

    /// Resources the host keeps for itself.
    public struct Reserve: Sendable, Equatable {
        /// Housekeeping CPUs: never given to a tenant exclusively; the tick thread runs on one of them.
        public var coreIDs: [Int] = []
        public var memoryBytes: Double = 0
        public var bandwidthBitsPerSecond: Double = 0
        public init() {}
    }

    /// When the loop asks the solver for a new allocation.
    public enum SolvePolicy: Sendable, Equatable {
        /// Every tick.
        case everyTick
        /// When any tenant's forecast (at its quantile) moved by more than this fraction, by more than its own
        /// noise band and by more than `Hysteresis.cpuCores` since the last solve (`Damping.forecastMoved`), or a
        /// tenant's measured run-queue wait crossed its SLO.
        case onChange(relativeThreshold: Double)
    }

    /// Damping between a computed allocation and what is applied, so allocations do not thrash.
    public struct Hysteresis: Sendable, Equatable {
        /// A tenant's CPU changes only when it moves by at least this many cores (exclusive cores always apply).
        public var cpuCores: Double = 0.05
        /// A tenant's memory limit changes only when it moves by at least this fraction.
        public var memoryFraction: Double = 0.05
        /// A tenant whose allocation was just changed is not changed again (downwards) for this long; growth is
        /// never held back. Solves also size each tenant for its highest forecast over (half to all of) this span,
        /// so a fall in demand reaches the solver once it has lasted, a rise at once.
        public var shrinkHoldNanoseconds: UInt64 = 100_000_000
        public init() {}
    }
}

/// A configuration error, with the place a person must look: file, line and field.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var file: String
    /// 1-based line of the offending node (0 when the file could not be read at all).
    public var line: Int
    /// Dotted path of the field (`tenants[1].slo.runq_wait_p99`).
    public var field: String
    public var reason: String

    public init(file: String, line: Int, field: String, reason: String) {
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(file):\(line): \(field): \(reason)" }
}
