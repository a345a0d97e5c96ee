import Glibc

/// Reads how long tenants were held by their CFS quota, from each tenant's `cpu.stat` (v1 `throttled_time`, in
/// nanoseconds; v2 `throttled_usec`), for the slots the loop marks as spending their quota faster than it refills.
///
/// A tenant held by its quota uses no more CPU than the quota, so its usage alone never shows that it wants more;
/// its throttled time does. The kernel adds a period's throttled time when the period ends (measured on 6.18: a
/// spinner under a 10 ms / 100 ms quota reports 40-90 ms once per period), so this is a late signal, one period
/// behind (Enforce's period is 10 ms; the loop's saturation rule reacts before it). Both telemetry sources use it.
/// Files are opened on the slow side; the tick reads only the marked slots (`pread` into a stack buffer: a few microseconds each) and only every `readEveryDrains`-th drain, since a report
/// comes once a period; a slot's first read after it is marked only sets its baseline. (At the kernel's 100 ms
/// period a slot that just reported was left unread until its next report neared, two reads a period instead of
/// twelve; at Enforce's 10 ms period nearly every read finds a report, so there is nothing to skip.)
final class CpuThrottleFiles {
    private let cgroupRoot: String
    private let unifiedOnly: Bool
    private let files: UnsafeMutableBufferPointer<Int32>
    /// Last cumulative throttled time per slot (ns); valid while `hasReading` is set.
    private let lastThrottled: UnsafeMutableBufferPointer<UInt64>
    private let hasReading: UnsafeMutableBufferPointer<Bool>
    /// Reading the watched slots on every 1 ms drain raised the agent benchmark's drain p50 from 2-4 µs to 12 µs
    /// (64 tenants, the spinners in the shared pool watched); every 8th delays a period's report by 8 ms at most.
    private let readEveryDrains: UInt64 = 8
    private var drains: UInt64 = 0

    /// - Parameter cgroupRoot: where the cgroup file systems are mounted (`/sys/fs/cgroup`).
    init(cgroupRoot: String, capacity: Int) {
        self.cgroupRoot = cgroupRoot
        // A hybrid host keeps the cpu controller in a v1 hierarchy; a pure v2 host has cpu.stat in the tenant's own.
        unifiedOnly = access("\(cgroupRoot)/cpu/cpu.cfs_period_us", F_OK) != 0
        files = .filled(capacity, with: -1)
        lastThrottled = .filled(capacity, with: 0)
        hasReading = .filled(capacity, with: false)
    }

    deinit {
        for slot in files.indices { detach(slot: slot) }
        files.deallocate()
        lastThrottled.deallocate()
        hasReading.deallocate()
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
                continue
            }
            let key: StaticString = unifiedOnly ? "throttled_usec " : "throttled_time "
            guard let reading = CgroupUsageTelemetry.readNumber(files[slot], after: key) else { continue }
            let cumulative = unifiedOnly ? reading &* 1000 : reading
            if hasReading[slot], cumulative > lastThrottled[slot] {
                frame.throttledNanoseconds[slot] = cumulative - lastThrottled[slot]
            }
            lastThrottled[slot] = cumulative
            hasReading[slot] = true
        }
    }
}
