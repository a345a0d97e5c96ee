import CLibBPF

/// What one CPU runs now, as the scheduler probes store it in `cpu_running` at every context switch: the slot of
/// its task and since when that task's run is in no published count (its switch-in, or the last asked-for flush).
/// The run from `sinceNanoseconds` to now reaches the records only when the task switches out or its CPU is asked
/// to flush; this shows it before, for a reader that needs a running task's use early (never add it to usage as
/// well: the records bring the same time later).
public struct RunningTask: Sendable, Equatable {
    /// The task's slot (`TelemetryTotals.otherSlot` for a cgroup no one watches); nil when the CPU is idle.
    public var slot: Int?
    /// CLOCK_MONOTONIC, rounded down to 4.1 µs (`DPM_RUN_SLOT_BITS`), so a run read from it is at most that long.
    /// 0 with slot `otherSlot` on a CPU that has not switched since the probes were loaded.
    public var sinceNanoseconds: UInt64

    /// Decodes the kernel's word (`dpm_running_word`).
    init(word: UInt64) {
        let slot = Int(word & UInt64(DPM_RUN_SLOT_MASK))
        self.slot = slot < TelemetryTotals.slotCapacity ? slot : nil
        sinceNanoseconds = word & ~UInt64(DPM_RUN_SLOT_MASK)
    }
}
