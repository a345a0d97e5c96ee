import Pool

/// Tenants taken out of the agent's table that Enforce still counts (their state, descriptors and baseline entries),
/// until each can be forgotten: once the table the tick runs no longer names it and its cgroup is gone.
///
/// A tenant leaves while the tick still runs the table that names it (the one the agent is replacing), so being
/// named by the served table means "not yet", never "back": only adopting it again (`readopt`) takes it off the list.
/// A tenant that stays longer than the overdue limit is reported once, with why.
struct LeavingTenants {
    struct Entry {
        var spec: TenantSpec
        var sinceNanoseconds: UInt64
        var reportedOverdue = false
    }

    private(set) var entries: [Entry] = []

    /// The tenant left the table being published (leaving again restarts its clock).
    mutating func leave(_ spec: TenantSpec, nowNanoseconds: UInt64) {
        entries.removeAll { $0.spec.name == spec.name }
        entries.append(Entry(spec: spec, sinceNanoseconds: nowNanoseconds))
    }

    /// The tenant is in the table being published again: Enforce's own once more (Enforce switches to a new cgroup
    /// path itself and closes the old one's files).
    mutating func readopt(_ name: String) {
        entries.removeAll { $0.spec.name == name }
    }

    /// Takes off the list, and returns, the tenants Enforce may forget now: not named by `served` (the table the
    /// tick runs) and whose cgroup is gone.
    mutating func takeForgettable(served: Set<String>, cgroupExists: (String) -> Bool) -> [TenantSpec] {
        var forgettable: [TenantSpec] = []
        entries.removeAll { entry in
            guard !served.contains(entry.spec.name), !cgroupExists(entry.spec.cgroupPath) else { return false }
            forgettable.append(entry.spec)
            return true
        }
        return forgettable
    }

    /// One line per tenant on the list for longer than `limitNanoseconds` and not reported yet, saying why it stays.
    mutating func reportOverdue(
        nowNanoseconds: UInt64, limitNanoseconds: UInt64, served: Set<String>, lingering: (String) -> String?
    ) -> [String] {
        var lines: [String] = []
        for index in entries.indices where !entries[index].reportedOverdue {
            let entry = entries[index]
            guard nowNanoseconds >= entry.sinceNanoseconds, nowNanoseconds - entry.sinceNanoseconds >= limitNanoseconds else { continue }
            entries[index].reportedOverdue = true
            let seconds = (nowNanoseconds - entry.sinceNanoseconds) / 1_000_000_000
            let why = served.contains(entry.spec.name)
                ? "the table the tick runs still names it (no newer table adopted)"
                : lingering(entry.spec.cgroupPath).map { "its cgroup directory \($0) still exists" } ?? "its cgroup is gone; it is forgotten on the next pass"
            lines.append("tenant \(entry.spec.name): retired \(seconds) s ago but Enforce still keeps its state and files: \(why)")
        }
        return lines
    }
}
