import Enforce
import Glibc

/// Reads how long tenants were held by their CFS quota, from each tenant's `cpu.stat` (v1 `throttled_time`, in
/// nanoseconds; v2 `throttled_usec`), for the slots the loop marks as spending their quota faster than it refills.
///
/// A tenant held by its quota uses no more CPU than the quota, so its usage alone never shows that it wants more;
/// its throttled time does. The kernel adds a period's throttled time when the period ends (measured on 6.18: a
/// spinner under a 10 ms / 100 ms quota reports 40-90 ms once per period), so this is a late signal, one period
/// behind. Both telemetry sources use it. Files are opened on the slow side; the tick reads only the marked slots
/// (`pread` into a stack buffer: a few microseconds each) and only every `readEveryDrains`-th drain, since a report
/// comes once a period; a slot's first read after it is marked only sets its baseline. A slot that just reported is
/// not read again until its next period's report is near (`quietAfterReportNanoseconds`): a tenant held at its
/// quota period after period (a spinner in a full shared pool) costs about two reads a period instead of twelve.
final class CpuThrottleFiles {
    private let cgroupRoot: String
    private let unifiedOnly: Bool
    private let files: UnsafeMutableBufferPointer<Int32>
    /// Last cumulative throttled time per slot (ns); valid while `hasReading` is set.
    private let lastThrottled: UnsafeMutableBufferPointer<UInt64>
    private let hasReading: UnsafeMutableBufferPointer<Bool>
    /// Reading the watched slots on every 1 ms drain raised the agent benchmark's drain p50 from 2-4 µs to 12 µs
    /// (64 tenants, the spinners in the shared pool watched); every 8th delays a 100 ms period's report by 8 ms at
    /// most.
    private let readEveryDrains: UInt64 = 8
    private var drains: UInt64 = 0
    /// After a report, the next comes when the tenant's next period ends: the CFS period Enforce writes quotas
    /// against less two reads' spacing at the default 1 ms tick (100 - 16 = 84 ms), so a report at the period's end
    /// is still read within a read interval or two. Throttling reported in between (the kernel's slack timer
    /// unthrottles mid-period) is not lost: the counter is cumulative, and the loop divides it by the whole span
    /// since the previous report.
    private let quietAfterReportNanoseconds: UInt64
    /// Per slot, when the tick may read it again (CLOCK_MONOTONIC; 0: at the next read).
    private let quietUntilNanoseconds: UnsafeMutableBufferPointer<UInt64>

    /// - Parameter cgroupRoot: where the cgroup file systems are mounted (`/sys/fs/cgroup`).
    init(cgroupRoot: String, capacity: Int) {
        self.cgroupRoot = cgroupRoot
        // A hybrid host keeps the cpu controller in a v1 hierarchy; a pure v2 host has cpu.stat in the tenant's own.
        unifiedOnly = access("\(cgroupRoot)/cpu/cpu.cfs_period_us", F_OK) != 0
        files = .allocate(capacity: capacity)
        files.initialize(repeating: -1)
        lastThrottled = .allocate(capacity: capacity)
        lastThrottled.initialize(repeating: 0)
        hasReading = .allocate(capacity: capacity)
        hasReading.initialize(repeating: false)
        quietUntilNanoseconds = .allocate(capacity: capacity)
        quietUntilNanoseconds.initialize(repeating: 0)
        let periodNanoseconds = UInt64(CgroupBackend.cpuPeriodMicroseconds) * 1_000
        let twoReadsNanoseconds = 2 * readEveryDrains * 1_000_000
        quietAfterReportNanoseconds = periodNanoseconds > twoReadsNanoseconds ? periodNanoseconds - twoReadsNanoseconds : 0
    }

    deinit {
        for slot in files.indices { detach(slot: slot) }
        files.deallocate()
        lastThrottled.deallocate()
        hasReading.deallocate()
        quietUntilNanoseconds.deallocate()
    }

    /// Slow side: opens the tenant's `cpu.stat`. A tenant without one (no cpu controller) is simply not read.
    func attach(slot: Int, cgroupPath: String) {
        detach(slot: slot)
        let path = unifiedOnly ? "\(cgroupRoot)/\(cgroupPath)/cpu.stat" : "\(cgroupRoot)/cpu/\(cgroupPath)/cpu.stat"
        files[slot] = open(path, O_RDONLY | O_CLOEXEC)
        hasReading[slot] = false
    }

    func detach(slot: Int) {
        if files[slot] >= 0 { Glibc.close(files[slot]) }
        files[slot] = -1
        hasReading[slot] = false
    }

    /// Tick thread: writes each marked slot's throttled time since its previous read into the frame; an unmarked
    /// slot loses its baseline, so its next watch starts afresh.
    func read(into frame: TelemetryFrame, nowNanoseconds: UInt64) {
        drains &+= 1
        guard drains % readEveryDrains == 0 else { return }
        for slot in files.indices where files[slot] >= 0 {
            guard frame.watchesThrottling[slot] else {
                hasReading[slot] = false
                quietUntilNanoseconds[slot] = 0
                continue
            }
            guard nowNanoseconds >= quietUntilNanoseconds[slot] else { continue }
            let key: StaticString = unifiedOnly ? "throttled_usec " : "throttled_time "
            guard let reading = CgroupUsageTelemetry.readNumber(files[slot], after: key) else { continue }
            let cumulative = unifiedOnly ? reading &* 1000 : reading
            if hasReading[slot], cumulative > lastThrottled[slot] {
                frame.throttledNanoseconds[slot] = cumulative - lastThrottled[slot]
                quietUntilNanoseconds[slot] = nowNanoseconds &+ quietAfterReportNanoseconds
            }
            lastThrottled[slot] = cumulative
            hasReading[slot] = true
        }
    }
}
