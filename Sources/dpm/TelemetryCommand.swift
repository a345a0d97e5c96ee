import ArgumentParser
import BPFLoader
import Glibc

/// `dpm telemetry`: attach the telemetry probes to some cgroup v2 directories and print what each tenant did,
/// interval by interval, until the duration ends or SIGINT/SIGTERM (which detach and unpin everything).
struct TelemetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "telemetry",
        abstract: "Print per-tenant kernel telemetry (run-queue wait, CPU time, switches, page faults, network).",
        discussion: "Each --cgroup is a tenant, a cgroup v2 directory (on this host under /sys/fs/cgroup/unified). "
            + "Counts are per interval. The ring buffer is drained every millisecond."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, json
    }

    @Option(name: .customLong("cgroup"), help: "A cgroup v2 directory to watch; repeat for several tenants.")
    var cgroupPaths: [String] = []

    @Option(help: "Time between two reports: 500ms, 1s, 2m (ns, us, ms, s, m; a bare number is seconds).")
    var interval: DurationArgument = DurationArgument(nanoseconds: 1_000_000_000)

    @Option(help: "Stop after this long (same units as --interval); runs until Ctrl-C when omitted.")
    var duration: DurationArgument?

    @Option(help: "Output format: table or json (one object per interval per tenant).")
    var format: Format = .table

    @Option(help: "bpffs directory for the pinned maps, programs and links; removed on exit.")
    var pinDirectory: String = "\(PinDirectory.bpffsRoot)/dpm"

    func validate() throws {
        guard !cgroupPaths.isEmpty else { throw ValidationError("give at least one --cgroup PATH") }
        guard interval.nanoseconds >= 1_000_000 else { throw ValidationError("--interval must be at least 1ms") }
        var seen: [UInt64: String] = [:]
        for path in cgroupPaths {
            let id: UInt64
            do { id = try TelemetryProbes.cgroupID(path: path) } catch { throw ValidationError("\(error)") }
            if let earlier = seen[id] {
                throw ValidationError("--cgroup \(path) is the same cgroup as --cgroup \(earlier)")
            }
            seen[id] = path
        }
    }

    func run() throws {
        // Held from here on: a signal during load is seen by the first wait and still leads to a clean exit.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        sigprocmask(SIG_BLOCK, &stopSignals, nil)

        var options = TelemetryProbes.Options()
        options.pinDirectory = PinDirectory(path: pinDirectory)
        let probes = try TelemetryProbes(options: options)
        defer { probes.close() }
        let watches = try cgroupPaths.map { try probes.watch(cgroupPath: $0) }
        var live = watches
        var totals = TelemetryTotals()
        var droppedBefore = try probes.droppedRecords()
        let start = monotonicNanoseconds()
        let end = duration.map { start + $0.nanoseconds }
        var intervalStart = start
        var nextTick = start
        if format == .table { print(TableRow.header) }

        while true {
            nextTick += 1_000_000
            if waitForTick(at: nextTick, orSignal: &stopSignals) { break }
            probes.requestOverdueFlushes()
            probes.drain(into: &totals)
            let now = monotonicNanoseconds()
            let finished = end.map { now >= $0 } ?? false
            guard now - intervalStart >= interval.nanoseconds || finished else { continue }

            let dropped = try probes.droppedRecords()
            for watch in live {
                report(watch, totals, intervalNanoseconds: now - intervalStart, dropped: dropped - droppedBefore)
            }
            for watch in live where !Self.exists(watch) {
                print(format == .json ? "{\"cgroup\":\(jsonString(watch.cgroupPath)),\"gone\":true}"
                                      : "\(watch.cgroupPath): gone (cgroup removed); no longer watched")
                try probes.unwatch(slot: watch.slot)
            }
            live.removeAll { !Self.exists($0) }
            fflush(nil)
            totals.reset()
            droppedBefore = dropped
            intervalStart = now
            if finished || live.isEmpty { break }
        }
    }

    /// Sleeps until `deadline` (CLOCK_MONOTONIC ns); true when SIGINT or SIGTERM arrived instead.
    private func waitForTick(at deadline: UInt64, orSignal signals: inout sigset_t) -> Bool {
        let now = monotonicNanoseconds()
        let wait = deadline > now ? deadline - now : 0
        var timeout = timespec(tv_sec: Int(wait / 1_000_000_000), tv_nsec: Int(wait % 1_000_000_000))
        return sigtimedwait(&signals, nil, &timeout) > 0
    }

    private func report(_ watch: TelemetryProbes.Watch, _ totals: TelemetryTotals, intervalNanoseconds: UInt64,
                        dropped: UInt64) {
        let slot = totals[watch.slot]
        switch format {
        case .json:
            let histogram = totals.runQueueWaitHistogram(slot: watch.slot).map(String.init).joined(separator: ",")
            print("{\"cgroup\":\(jsonString(watch.cgroupPath)),\"interval_ns\":\(intervalNanoseconds),"
                + "\"cpu_ns\":\(slot.cpuNanoseconds),\"runq_wait_ns\":\(slot.runQueueWaitNanoseconds),"
                + "\"runq_waits\":\(slot.runQueueWaits),\"runq_wait_hist\":[\(histogram)],"
                + "\"ctx_switches\":\(slot.contextSwitches),\"voluntary_switches\":\(slot.voluntarySwitches),"
                + "\"involuntary_switches\":\(slot.involuntarySwitches),\"page_faults\":\(slot.pageFaults),"
                + "\"rx_bytes\":\(slot.rxBytes),\"tx_bytes\":\(slot.txBytes),\"rx_packets\":\(slot.rxPackets),"
                + "\"tx_packets\":\(slot.txPackets),\"dropped_records\":\(dropped)}")
        case .table:
            print(TableRow(path: watch.cgroupPath, slot: slot, dropped: dropped).text)
        }
    }

    private static func exists(_ watch: TelemetryProbes.Watch) -> Bool {
        (try? TelemetryProbes.cgroupID(path: watch.cgroupPath)) == watch.cgroupID
    }
}

/// One line of the table format.
private struct TableRow {
    static let header = [
        "cgroup".padding(32), "cpu_ms".leftPadding(10), "runq_waits".leftPadding(11), "wait_avg_us".leftPadding(12),
        "ctx_sw".leftPadding(8), "faults".leftPadding(8), "rx_bytes".leftPadding(11), "tx_bytes".leftPadding(11),
        "rx_pkts".leftPadding(8), "tx_pkts".leftPadding(8), "dropped".leftPadding(8),
    ].joined(separator: " ")

    let path: String
    let slot: SlotTelemetry
    let dropped: UInt64

    var text: String {
        let averageWait = slot.runQueueWaits == 0 ? 0 : slot.runQueueWaitNanoseconds / slot.runQueueWaits / 1000
        return [
            path.padding(32), fixed(slot.cpuNanoseconds, scale: 1_000_000).leftPadding(10),
            "\(slot.runQueueWaits)".leftPadding(11), "\(averageWait)".leftPadding(12),
            "\(slot.contextSwitches)".leftPadding(8), "\(slot.pageFaults)".leftPadding(8),
            "\(slot.rxBytes)".leftPadding(11), "\(slot.txBytes)".leftPadding(11), "\(slot.rxPackets)".leftPadding(8),
            "\(slot.txPackets)".leftPadding(8), "\(dropped)".leftPadding(8),
        ].joined(separator: " ")
    }

    /// `value / scale` with one decimal.
    private func fixed(_ value: UInt64, scale: UInt64) -> String {
        let tenths = value * 10 / scale
        return "\(tenths / 10).\(tenths % 10)"
    }
}

/// A duration on the command line: `500ms`, `1s`, `2m`, `250us`, `100ns`; a bare number is seconds.
struct DurationArgument: ExpressibleByArgument, Equatable {
    let nanoseconds: UInt64

    init(nanoseconds: UInt64) {
        self.nanoseconds = nanoseconds
    }

    init?(argument: String) {
        let units: [(suffix: String, nanoseconds: Double)] = [
            ("ns", 1), ("us", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9),
        ]
        let unit = units.first { argument.hasSuffix($0.suffix) } ?? ("", 1e9)
        guard let value = Double(argument.dropLast(unit.suffix.count)), value >= 0, value.isFinite else { return nil }
        nanoseconds = UInt64(value * unit.nanoseconds)
    }

    var defaultValueDescription: String { "\(nanoseconds / 1_000_000)ms" }
}

private func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

private func jsonString(_ text: String) -> String {
    var escaped = "\""
    for character in text.unicodeScalars {
        switch character {
        case "\"": escaped += "\\\""
        case "\\": escaped += "\\\\"
        case _ where character.value < 0x20: escaped += "\\u" + String(character.value, radix: 16).leftPadding(4, "0")
        default: escaped.unicodeScalars.append(character)
        }
    }
    return escaped + "\""
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    fileprivate func leftPadding(_ width: Int, _ fill: Character = " ") -> String {
        count >= width ? self : String(repeating: fill, count: width - count) + self
    }
}
