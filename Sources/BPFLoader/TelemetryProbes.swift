import CLibBPF
import Glibc

/// The telemetry programs of `bpf/telemetry.bpf.c`, loaded and attached: per-slot scheduler, page-fault and
/// network counters that each CPU publishes through a ring buffer at most once per flush interval.
///
/// User space owns the map from cgroup v2 id to dense slot (`watch`/`unwatch`); cgroups no one watches count in
/// slot `TelemetryTotals.otherSlot`. Call `drain(into:)` on your own clock (every millisecond for the agent). A CPU
/// publishes only at a context switch, so a task that never switches out and a CPU gone idle hold counts back; a
/// consumer that needs them within about two intervals calls `requestOverdueFlushes()` once per drain, after the
/// work that waits for the drain (each request is an IPI; the agent, measured, does not).
/// Not thread-safe: one thread drives an instance.
public final class TelemetryProbes {
    /// Which flavour of the scheduler and page-fault programs is attached.
    public enum TracepointFlavour: String, Sendable {
        /// BTF-typed tracepoints with wake-up probes and task-local storage: the fast one.
        case typed = "tp_btf"
        /// Raw tracepoints with CO-RE reads, wake-up probes and a pid-keyed hash: for kernels without tp_btf.
        case raw = "raw_tp"
    }

    public struct Options: Sendable {
        /// Minimum time between two flushes of one CPU.
        public var flushIntervalNanoseconds: UInt64 = DPM_DEFAULT_FLUSH_INTERVAL_NS
        /// Ring-buffer size: a power of two, a multiple of the page size.
        public var ringBufferBytes: UInt32 = 4 << 20
        /// nil: probe the kernel (cached) unless `DPM_BPF_FORCE_RAW_TP=1` is set; or force one flavour.
        public var flavour: TracepointFlavour?
        /// Where maps, programs and links are pinned; nil pins nothing.
        public var pinDirectory: PinDirectory? = PinDirectory(path: "\(PinDirectory.bpffsRoot)/dpm")

        public init() {}
    }

    /// A watched cgroup.
    public struct Watch: Sendable, Equatable {
        public let cgroupPath: String
        public let cgroupID: UInt64
        public let slot: Int
    }

    public static let forceRawEnvironmentVariable = "DPM_BPF_FORCE_RAW_TP"
    public let flavour: TracepointFlavour
    public let pinDirectory: PinDirectory?
    public private(set) var watches: [Int: Watch] = [:]

    private let object: BPFObject
    private let cgroupSlots: BPFMap
    private let slotCounters: BPFMap
    private let cpuState: BPFMap
    private let consumer: RingBufferConsumer
    private let flushRequester: FlushRequester
    private let running: MappedArray<dpm_cpu_running>
    private let folder: RecordFolder
    private var tracepointLinks: [BPFLink] = []
    private var cgroupLinks: [Int: [BPFLink]] = [:]
    private var slotGeneration: UInt32 = 0
    /// Slots never used yet come first, so a reused slot's old counts are least likely to linger.
    private var freeSlots: [Int]
    private var isClosed = false

    private static let networkPrograms = ["cgroup_ingress", "cgroup_egress"]
    private static func tracepointPrograms(_ flavour: TracepointFlavour) -> [String] {
        switch flavour {
        case .typed: ["sched_wakeup_btf", "sched_wakeup_new_btf", "sched_switch_btf", "page_fault_user_btf"]
        case .raw: ["sched_wakeup_raw", "sched_wakeup_new_raw", "sched_switch_raw", "page_fault_user_raw"]
        }
    }

    /// Opens, configures, loads, attaches and pins the telemetry programs. When the typed flavour was chosen by
    /// probing and the kernel still refuses it (a missing type or symbol), falls back to the raw one.
    public init(options: Options = Options()) throws {
        let forced = getenv(Self.forceRawEnvironmentVariable).map { String(cString: $0) == "1" } ?? false
        let preferred = options.flavour ?? (forced || !KernelFeatures.hasTypedTracepoints ? .raw : .typed)
        let object: BPFObject
        do {
            object = try Self.load(flavour: preferred, options: options)
            flavour = preferred
        } catch BPFError.loadFailed where preferred == .typed && options.flavour == nil {
            object = try Self.load(flavour: .raw, options: options)
            flavour = .raw
        }
        self.object = object
        pinDirectory = options.pinDirectory
        cgroupSlots = try object.map("cgroup_slots")
        slotCounters = try object.map("slot_counters")
        cpuState = try object.map("cpu_state")
        consumer = try RingBufferConsumer(map: try object.map("records"))
        flushRequester = try FlushRequester(flushTimes: try object.map("cpu_flushes"),
                                            flushProgramFileDescriptor: try object.programFileDescriptor("flush_cpu"),
                                            overdueNanoseconds: 2 * options.flushIntervalNanoseconds)
        running = try MappedArray(try object.map("cpu_running"))
        folder = RecordFolder()
        freeSlots = Array((TelemetryTotals.otherSlot + 1..<TelemetryTotals.slotCapacity).reversed())
        try startCounting(slot: TelemetryTotals.otherSlot)
        do {
            for program in Self.tracepointPrograms(flavour) { tracepointLinks.append(try object.attach(program: program)) }
            try pin()
        } catch {
            close()
            throw error
        }
    }

    private static func load(flavour: TracepointFlavour, options: Options) throws -> BPFObject {
        let object = try BPFObject(.telemetry)
        for candidate in [TracepointFlavour.typed, .raw] {
            for program in tracepointPrograms(candidate) {
                try object.setAutoload(program: program, candidate == flavour)
            }
        }
        try object.setAutocreate(map: "pid_state", flavour == .raw)
        try object.setAutocreate(map: "task_state", flavour == .typed)
        try object.setReadOnlyVariable("flush_interval_ns", to: options.flushIntervalNanoseconds)
        try object.setMaxEntries(map: "records", options.ringBufferBytes)
        try object.setMaxEntries(map: "cpu_flushes", UInt32(BPFMap.possibleCPUs))
        try object.setMaxEntries(map: "cpu_running", UInt32(BPFMap.possibleCPUs))
        try object.load()
        return object
    }

    deinit {
        close()
    }

    /// Starts counting a cgroup v2 directory in a slot of its own and attaches the network programs to it.
    public func watch(cgroupPath: String) throws -> Watch {
        let cgroupID = try Self.cgroupID(path: cgroupPath)
        if let existing = watches.values.first(where: { $0.cgroupID == cgroupID }) { return existing }
        guard let slot = freeSlots.popLast() else {
            throw BPFError.noFreeSlot(cgroupPath: cgroupPath, capacity: TelemetryTotals.slotCapacity - 1)
        }
        do {
            var links: [BPFLink] = []
            for program in Self.networkPrograms {
                let link = try object.attach(program: program, cgroupPath: cgroupPath)
                if let pinDirectory { try link.pin(at: pinDirectory.pinPath("link_\(program)_\(cgroupID)")) }
                links.append(link)
            }
            try startCounting(slot: slot)
            try cgroupSlots.update(cgroupID, UInt32(slot))
            try bumpSlotGeneration()
            cgroupLinks[slot] = links
        } catch {
            freeSlots.insert(slot, at: 0)
            throw error
        }
        let watch = Watch(cgroupPath: cgroupPath, cgroupID: cgroupID, slot: slot)
        watches[slot] = watch
        return watch
    }

    /// Stops counting a slot's cgroup (its events go to the "other" slot from now on) and detaches from it.
    /// Works also after the cgroup was removed.
    public func unwatch(slot: Int) throws {
        guard let watch = watches.removeValue(forKey: slot) else { return }
        try cgroupSlots.delete(watch.cgroupID)
        try bumpSlotGeneration()
        for link in cgroupLinks.removeValue(forKey: slot) ?? [] { link.unpin() }
        freeSlots.insert(slot, at: 0)
    }

    /// What one drain read.
    public struct Drain: Sendable, Equatable {
        /// Flush records: one per CPU flush.
        public var records = 0
        /// Slot entries added to the totals: one per slot a flushing CPU touched.
        public var entries = 0
        /// Bytes of the records read: entries carry only their non-zero parts, and each record ends in room the
        /// kernel reserved for one largest entry (`DPM_SLOT_ENTRY_MAX_BYTES`) that stays unused.
        public var bytes = 0
    }

    /// What one round of flush requests did.
    public struct FlushRequests: Sendable, Equatable {
        /// CPUs asked to flush because their counts were overdue (a task running without switching, a CPU gone
        /// idle with counts); their records wait in the ring for the next drain.
        public var asked = 0
        /// Requests the kernel refused (a CPU gone offline); those CPUs are asked again next round.
        public var failed = 0
    }

    /// Adds every record waiting in the ring buffer to `totals`. Allocation-free: the records are read in place and
    /// added to the totals' preallocated storage.
    @discardableResult
    public func drain(into totals: inout TelemetryTotals) -> Drain {
        totals.withSums { sums in
            var drain = Drain()
            drain.records = consumer.drain { bytes in
                drain.entries += folder.fold(bytes, into: sums)
                drain.bytes += bytes.count
            }
            return drain
        }
    }

    /// Asks every CPU whose counts are overdue to flush them; their records are in the ring when this returns and
    /// reach the totals at the next drain. Apart from the drain, and after the work that waits for it: each request
    /// is an IPI to that CPU and waits for it (about 12 µs on this host). Allocation-free.
    @discardableResult
    public func requestOverdueFlushes() -> FlushRequests {
        flushRequester.requestOverdueFlushes()
    }

    /// CPUs whose running task `runningTask(cpu:)` reads: the possible CPUs.
    public var cpuCount: Int { running.count }

    /// What `cpu` runs now and since when its run is unpublished, read in place (one load, no syscall, no
    /// allocation). Read it after `drain(into:)`: a run the drain brought ended where the word's run starts, so the
    /// two never overlap; read before, a run that switched out in between would count in both.
    @inline(__always)
    public func runningTask(cpu: Int) -> RunningTask {
        RunningTask(word: running.elements[cpu].slot_and_since_ns)
    }

    /// Flush records the kernel could not publish because the ring buffer was full, summed over CPUs since load.
    /// Their counts are not lost (the kernel keeps them) but arrive with a later flush.
    public func droppedRecords() throws -> UInt64 {
        try cpuState.lookupPerCPU(UInt32(0), as: dpm_cpu_state.self).reduce(0) { $0 + $1.dropped_records }
    }

    /// Detaches everything and removes the pins. Idempotent; also runs on deinit.
    public func close() {
        if isClosed { return }
        isClosed = true
        for links in cgroupLinks.values { links.forEach { $0.unpin() } }
        cgroupLinks.removeAll()
        tracepointLinks.removeAll()
        pinDirectory?.remove()
    }

    /// The cgroup v2 id of a directory: its inode number on cgroup2fs.
    public static func cgroupID(path: String) throws -> UInt64 {
        var info = statfs()
        guard statfs(path, &info) == 0 else {
            throw BPFError.notACgroupV2Directory(path: path, reason: BPFError.text(errno))
        }
        guard info.f_type == cgroup2Magic else {
            throw BPFError.notACgroupV2Directory(path: path, reason: "not on a cgroup2 file system")
        }
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
            throw BPFError.notACgroupV2Directory(path: path, reason: "not a directory")
        }
        return UInt64(status.st_ino)
    }

    static let cgroup2Magic = 0x6367_7270

    /// Clears what a slot's previous tenant left in the kernel, then counts it from records flushed from now on
    /// (earlier ones, maybe still in the ring, are the previous tenant's).
    private func startCounting(slot: Int) throws {
        try slotCounters.zeroPerCPU(UInt32(slot))
        folder.watch(slot: slot, since: Self.monotonicNanoseconds())
    }

    /// CLOCK_MONOTONIC in nanoseconds: the clock of the kernel's `bpf_ktime_get_ns`, which stamps the records.
    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    private func bumpSlotGeneration() throws {
        slotGeneration &+= 1
        try object.storeGlobalVariable("slot_generation", slotGeneration)
    }

    private func pin() throws {
        guard let pinDirectory else { return }
        try pinDirectory.prepare()
        for map in ["cgroup_slots", "slot_counters", "cpu_state", "cpu_flushes", "cpu_running", "records"] {
            try object.pin(map: map, at: pinDirectory.pinPath(map))
        }
        for program in Self.tracepointPrograms(flavour) + Self.networkPrograms + ["flush_cpu"] {
            try object.pin(program: program, at: pinDirectory.pinPath(program))
        }
        for (program, link) in zip(Self.tracepointPrograms(flavour), tracepointLinks) {
            try link.pin(at: pinDirectory.pinPath("link_\(program)"))
        }
    }
}
