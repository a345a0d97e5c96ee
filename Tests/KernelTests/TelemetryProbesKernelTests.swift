import BPFLoader
import CLibBPF
import Enforce
import Foundation
import Glibc
import Testing

/// The telemetry probes on the real kernel: each test makes its own tenants (`dpm-test-<random>` v2 cgroups) and
/// pin directory, drives load into them with `TelemetryLoad`, and checks what the probes attribute to whom.
@Suite(.serialized) struct TelemetryProbesKernelTests {
    /// Two fresh tenants watched by fresh probes; everything is removed when `body` returns or throws.
    private func withTwoTenants(
        flavour: TelemetryProbes.TracepointFlavour? = nil, ringBufferBytes: UInt32? = nil,
        flushIntervalNanoseconds: UInt64? = nil,
        _ body: (TelemetryProbes, _ a: TelemetryProbes.Watch, _ b: TelemetryProbes.Watch) throws -> Void
    ) throws {
        let cgroupA = try TelemetryTestCgroup()
        let cgroupB = try TelemetryTestCgroup()
        var options = TelemetryProbes.Options()
        options.pinDirectory = PinDirectory(path: telemetryTestPinDirectory())
        options.flavour = flavour
        if let flushIntervalNanoseconds { options.flushIntervalNanoseconds = flushIntervalNanoseconds }
        if let ringBufferBytes { options.ringBufferBytes = ringBufferBytes }
        let probes = try TelemetryProbes(options: options)
        defer { probes.close() }
        try withExtendedLifetime((cgroupA, cgroupB)) {
            try body(probes, try probes.watch(cgroupPath: cgroupA.path), try probes.watch(cgroupPath: cgroupB.path))
        }
    }

    /// Drains every millisecond for a while, so every CPU flushes what it counted.
    private func drain(_ probes: TelemetryProbes, into totals: inout TelemetryTotals, milliseconds: Int = 100) throws {
        for _ in 0..<milliseconds {
            probes.drain(into: &totals)
            probes.requestOverdueFlushes()
            telemetryTestSleep(milliseconds: 1)
        }
    }

    @Test func pageFaultsCountForTheTenantThatTouchesPages() throws {
        try withTwoTenants { probes, a, b in
            let pages = 20_000
            var totals = TelemetryTotals()
            let run = try telemetryTestRun(TelemetryTestProducts.load, [a.cgroupPath, "touch-pages", "\(pages)"])
            #expect(run.status == 0, "\(run.errorOutput)")
            try drain(probes, into: &totals)
            #expect(totals[a.slot].pageFaults >= UInt64(pages))
            #expect(totals[b.slot].pageFaults <= 10)
        }
    }

    @Test func loopbackTCPBytesCountAsTheSendersTransmit() throws {
        try withTwoTenants { probes, a, b in
            let bytes = 4 << 20
            let (listener, port) = try telemetryTestTCPSink()
            defer { close(listener) }
            var totals = TelemetryTotals()
            let run = try telemetryTestRun(TelemetryTestProducts.load, [a.cgroupPath, "send-tcp", "\(port)", "\(bytes)"])
            #expect(run.status == 0, "\(run.errorOutput)")
            try drain(probes, into: &totals)
            #expect(totals[a.slot].txBytes >= UInt64(bytes))
            #expect(totals[a.slot].txBytes <= UInt64(bytes) * 11 / 10)
            #expect(totals[a.slot].txPackets > 0 && totals[a.slot].rxPackets > 0)  // data out, ACKs in
            #expect(totals[b.slot].txBytes == 0 && totals[b.slot].rxBytes == 0)
        }
    }

    /// A tenant is its cgroup and everything below it (a pod's containers): work two levels down counts for it.
    @Test(arguments: [TelemetryProbes.TracepointFlavour.typed, .raw])
    func workInACgroupBelowATenantCountsForTheTenant(flavour: TelemetryProbes.TracepointFlavour) throws {
        try withTwoTenants(flavour: flavour) { probes, a, b in
            let inner = a.cgroupPath + "/inner", deeper = inner + "/deeper"
            for directory in [inner, deeper] { #expect(mkdir(directory, 0o755) == 0, "mkdir \(directory): errno \(errno)") }
            defer { for directory in [deeper, inner] { rmdir(directory) } }
            let (listener, port) = try telemetryTestTCPSink()
            defer { close(listener) }
            var totals = TelemetryTotals()
            // Each job prints what it did (CPU time in ns, naps taken), so the checks hold however busy the host is.
            var printed: [String: UInt64] = [:]
            for arguments in [["touch-pages", "5000"], ["spin", "0.3", "1"], ["nap", "0.3"], ["send-tcp", "\(port)", "\(1 << 20)"]] {
                let run = try telemetryTestRun(TelemetryTestProducts.load, [deeper] + arguments)
                #expect(run.status == 0, "\(run.errorOutput)")
                printed[arguments[0]] = UInt64(run.output.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            try drain(probes, into: &totals)
            let tenant = totals[a.slot]
            let spinNanoseconds = try #require(printed["spin"]), naps = try #require(printed["nap"])
            #expect(tenant.pageFaults >= 5000)
            #expect(tenant.cpuNanoseconds >= spinNanoseconds * 9 / 10, "tenant \(tenant.cpuNanoseconds) ns, spin \(spinNanoseconds) ns")
            #expect(tenant.runQueueWaits >= naps, "\(tenant.runQueueWaits) waits, \(naps) naps")
            #expect(tenant.txBytes >= 1 << 20)
            #expect(totals[b.slot].pageFaults <= 10 && totals[b.slot].cpuNanoseconds == 0 && totals[b.slot].txBytes == 0)
        }
    }

    @Test func threadsSharingACoreWaitOnTheRunQueueAndTheirCPUTimeMatchesTheCgroup() throws {
        try withTwoTenants { probes, a, b in
            var totals = TelemetryTotals()
            let run = try telemetryTestRun("/usr/bin/taskset",
                                           ["-c", "0", TelemetryTestProducts.load, a.cgroupPath, "spin", "1.5", "2"])
            #expect(run.status == 0, "\(run.errorOutput)")
            try drain(probes, into: &totals)
            let tenant = totals[a.slot]
            #expect(tenant.runQueueWaits > 10)
            // Two always-runnable threads on one core for 1.5 s: one of them is waiting nearly all the time.
            #expect(tenant.runQueueWaitNanoseconds > 500_000_000 && tenant.runQueueWaitNanoseconds < 3_000_000_000,
                    "\(tenant.runQueueWaitNanoseconds) ns")
            #expect(tenant.involuntarySwitches > 10)
            #expect(totals.runQueueWaitHistogram(slot: a.slot).reduce(0, +) == tenant.runQueueWaits)
            #expect(totals[b.slot].runQueueWaits == 0)
            #expect(totals[b.slot].cpuNanoseconds == 0)

            let cgroupNanoseconds = try telemetryTestCgroupUsageNanoseconds(a.cgroupPath)
            let rusageNanoseconds = UInt64(run.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            #expect(cgroupNanoseconds > 100_000_000)
            #expect(telemetryTestRelativeDifference(tenant.cpuNanoseconds, cgroupNanoseconds) <= 0.10,
                    "probes \(tenant.cpuNanoseconds) ns, cgroup cpu.stat \(cgroupNanoseconds) ns")
            #expect(telemetryTestRelativeDifference(tenant.cpuNanoseconds, rusageNanoseconds) <= 0.10,
                    "probes \(tenant.cpuNanoseconds) ns, process CPU time \(rusageNanoseconds) ns")
        }
    }

    /// A known wait: a thread that never sleeps is, at every moment of its life, either running or waiting on the
    /// run queue, so two spinners sharing one core for T seconds wait 2·T less their CPU time, however much other
    /// load shares that core. What is left over is small: each thread's wait for its first run, and the main
    /// thread's start and its wake-up when they end (a few ms).
    @Test(arguments: [TelemetryProbes.TracepointFlavour.typed, .raw])
    func twoSpinnersOnOneCoreWaitTheirLifetimeLessTheirCPUTime(flavour: TelemetryProbes.TracepointFlavour) throws {
        try withTwoTenants(flavour: flavour) { probes, a, _ in
            var totals = TelemetryTotals()
            let spinNanoseconds: UInt64 = 1_500_000_000
            let run = try telemetryTestRun("/usr/bin/taskset",
                                           ["-c", "0", TelemetryTestProducts.load, a.cgroupPath, "spin", "1.5", "2"])
            #expect(run.status == 0, "\(run.errorOutput)")
            try drain(probes, into: &totals)
            let processCPUNanoseconds = try #require(UInt64(run.output.trimmingCharacters(in: .whitespacesAndNewlines)))
            let expectedWait = 2 * spinNanoseconds - processCPUNanoseconds
            let wait = totals[a.slot].runQueueWaitNanoseconds
            #expect(telemetryTestRelativeDifference(wait, expectedWait) <= 0.05,
                    "waited \(wait) ns; 2 × \(spinNanoseconds) ns less \(processCPUNanoseconds) ns of CPU time is \(expectedWait) ns")
        }
    }

    /// Every wake-up is one wait, also on an otherwise idle core (the kernel's own enqueue stamp lost about half of
    /// them there, and more beside a hog).
    @Test(arguments: ["1", "0,1"]) func everyWakeUpOfATimerLoopCountsOneShortWait(cpus: String) throws {
        try withTwoTenants { probes, a, _ in
            var totals = TelemetryTotals()
            let run = try telemetryTestRun("/usr/bin/taskset", ["-c", cpus, TelemetryTestProducts.load, a.cgroupPath, "nap", "1"])
            #expect(run.status == 0, "\(run.errorOutput)")
            // A CPU that idles after the run holds its last waits: the drain asks it for them (CI lost one of 932
            // when nothing else switched there afterwards).
            try drain(probes, into: &totals)
            let naps = try #require(UInt64(run.output.trimmingCharacters(in: .whitespacesAndNewlines)))
            let tenant = totals[a.slot]
            #expect(naps > 500)
            // Each nap ends in one wake-up; starting and ending the process adds a few, and so does each preemption
            // by other load (the preempted task waits to run again).
            #expect(tenant.runQueueWaits >= naps && tenant.runQueueWaits <= naps + tenant.involuntarySwitches + 20,
                    "\(tenant.runQueueWaits) waits, \(naps) naps, \(tenant.involuntarySwitches) preemptions")
            #expect(tenant.runQueueWaitNanoseconds / max(tenant.runQueueWaits, 1) < 1_000_000)
        }
    }

    /// A SCHED_FIFO spinner alone on a CPU never switches out, so no context switch charges its run: the drain asks
    /// that CPU to flush, and the run shows in every 10 ms window, not only when the spinner ends.
    @Test(arguments: [TelemetryProbes.TracepointFlavour.typed, .raw])
    func aRealTimeSpinnerShowsItsCPUTimeWhileItRuns(flavour: TelemetryProbes.TracepointFlavour) throws {
        try withTwoTenants(flavour: flavour) { probes, a, _ in
            try onlyOnCPU(0) {
                var totals = TelemetryTotals()
                let spinner = Process()
                spinner.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
                spinner.arguments = ["-c", "1", TelemetryTestProducts.load, a.cgroupPath, "spin-fifo", "0.3", "1"]
                let output = Pipe()
                spinner.standardOutput = output
                try spinner.run()
                // Per drain: its time, and how long the tenant's on-CPU time had not grown (from its first growth on:
                // the spinner joined the tenant). A drain that the host delays delays no later one's answer.
                var growths = 0
                var staleDrains: [(atNanoseconds: UInt64, staleNanoseconds: UInt64)] = []
                var lastGrowthNanoseconds: UInt64?
                var previousNanoseconds: UInt64 = 0
                while spinner.isRunning {
                    probes.drain(into: &totals)
                    probes.requestOverdueFlushes()
                    let now = telemetryTestMonotonicNanoseconds()
                    if totals[a.slot].cpuNanoseconds > previousNanoseconds {
                        previousNanoseconds = totals[a.slot].cpuNanoseconds
                        lastGrowthNanoseconds = now
                        growths += 1
                    } else if let lastGrowthNanoseconds, now - lastGrowthNanoseconds > 10_000_000 {
                        staleDrains.append((now, now - lastGrowthNanoseconds))
                    }
                    telemetryTestSleep(milliseconds: 1)
                }
                let end = telemetryTestMonotonicNanoseconds()
                let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                #expect(spinner.terminationStatus == 0)
                // Counts flow all along the 300 ms, not only at the end; only after the spin (the last 20 ms before
                // the loop saw the process gone) may they stop.
                #expect(growths >= 50, "\(growths) drains saw the on-CPU time grow")
                let staleWhileSpinning = staleDrains.filter { $0.atNanoseconds + 20_000_000 < end }
                #expect(staleWhileSpinning.isEmpty, "on-CPU time unchanged for over 10 ms: \(staleWhileSpinning)")
                try drain(probes, into: &totals)
                let spinNanoseconds = try #require(UInt64(printed.trimmingCharacters(in: .whitespacesAndNewlines)))
                #expect(telemetryTestRelativeDifference(totals[a.slot].cpuNanoseconds, spinNanoseconds) <= 0.10,
                        "probes \(totals[a.slot].cpuNanoseconds) ns, process CPU time \(spinNanoseconds) ns")
            }
        }
    }

    /// A CPU holds the last counts of a tenant that left it until it flushes; when no context switch comes there
    /// (here a SCHED_FIFO spinner of the other tenant takes the CPU within the flush interval, and keeps it), the
    /// drain asks for them. A 200 ms interval makes the case certain: the tenant naps for 50 ms on a CPU that
    /// flushed as the naps began, so no switch until the spinner's has a reason to flush.
    @Test func theLastCountsOfATenantArriveWithoutAContextSwitchOnItsCPU() throws {
        let flushIntervalNanoseconds: UInt64 = 200_000_000
        try withTwoTenants(flushIntervalNanoseconds: flushIntervalNanoseconds) { probes, a, b in
            try onlyOnCPU(0) {
                var totals = TelemetryTotals()
                let naps = try telemetryTestRun("/usr/bin/taskset", ["-c", "1", TelemetryTestProducts.load, a.cgroupPath, "nap", "0.05"])
                let napCount = try #require(UInt64(naps.output.trimmingCharacters(in: .whitespacesAndNewlines)))
                let spinner = Process()
                spinner.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
                spinner.arguments = ["-c", "1", TelemetryTestProducts.load, b.cgroupPath, "spin-fifo", "0.9", "1"]
                spinner.standardOutput = FileHandle.nullDevice
                try spinner.run()
                // Two intervals and a half after the naps began, while the spinner still holds the CPU.
                for _ in 0..<600 {
                    probes.drain(into: &totals)
                    probes.requestOverdueFlushes()
                    telemetryTestSleep(milliseconds: 1)
                }
                let waitsWhileSpinning = totals[a.slot].runQueueWaits
                #expect(spinner.isRunning)
                spinner.waitUntilExit()
                #expect(waitsWhileSpinning >= napCount, "\(waitsWhileSpinning) waits, \(napCount) naps")
            }
        }
    }

    @Test func tenSecondsOfHackbenchDrainedEveryMillisecondDropNothing() throws {
        try withTwoTenants { probes, a, _ in
            var totals = TelemetryTotals()
            let droppedBefore = try probes.droppedRecords()
            let hackbench = Process()
            hackbench.executableURL = URL(fileURLWithPath: "/bin/sh")
            hackbench.arguments = ["-c", """
                echo $$ > \(a.cgroupPath)/cgroup.procs
                end=$(($(date +%s) + 10))
                while [ "$(date +%s)" -lt "$end" ]; do hackbench -p -g 4 -l 200 >/dev/null; done
                """]
            try hackbench.run()
            var records = 0
            while hackbench.isRunning {
                records += probes.drain(into: &totals).records
                probes.requestOverdueFlushes()
                telemetryTestSleep(milliseconds: 1)
            }
            try drain(probes, into: &totals)
            #expect(hackbench.terminationStatus == 0)
            #expect(records > 1000)
            #expect(totals[a.slot].contextSwitches > 100_000)
            // A full ring would only delay counts (the kernel keeps what it could not publish); with a 4 MiB ring
            // drained every millisecond nothing is dropped at all.
            #expect(try probes.droppedRecords() - droppedBefore == 0)
        }
    }

    /// A ring too small for the records of a busy few hundred milliseconds, and no one draining meanwhile: flushes
    /// are refused and counted as dropped, but the kernel keeps their counts and a later flush carries them.
    @Test func aFullRingDelaysCountsAndLosesNone() throws {
        try withTwoTenants(ringBufferBytes: UInt32(sysconf(Int32(_SC_PAGESIZE)))) { probes, a, _ in
            var totals = TelemetryTotals()
            let droppedBefore = try probes.droppedRecords()
            let pages = 20_000
            let faults = try telemetryTestRun(TelemetryTestProducts.load, [a.cgroupPath, "touch-pages", "\(pages)"])
            let naps = try telemetryTestRun(TelemetryTestProducts.load, [a.cgroupPath, "nap", "0.3"])
            #expect(faults.status == 0 && naps.status == 0)
            #expect(try probes.droppedRecords() - droppedBefore > 0)
            try drain(probes, into: &totals, milliseconds: 300)
            let napCount = try #require(UInt64(naps.output.trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(totals[a.slot].pageFaults >= UInt64(pages))
            #expect(totals[a.slot].runQueueWaits >= napCount, "\(totals[a.slot].runQueueWaits) waits, \(napCount) naps")
            #expect(totals.runQueueWaitHistogram(slot: a.slot).reduce(0, +) == totals[a.slot].runQueueWaits)
        }
    }

    /// Byte counts just below and just above 2^32 that the kernel's flush must split into an entry's low and high
    /// bits (a record carries the low 32 bits, and the high ones only when they are not zero): planted in the tenant's
    /// counters (bpftool writes every CPU's copy), then published by the real program when the tenant's task, kept
    /// on CPU 0, switches there. The other CPU never runs the tenant, so it never publishes its copy: the drained
    /// sums are the planted values exactly.
    @Test(arguments: [TelemetryProbes.TracepointFlavour.typed, .raw], [(UInt64(1) << 32) - 1, (UInt64(1) << 32) + 1])
    func byteCountsAcrossThe32BitBoundaryArriveWhole(flavour: TelemetryProbes.TracepointFlavour, bytes: UInt64) throws {
        try withTwoTenants(flavour: flavour) { probes, a, _ in
            let counters = try #require(probes.pinDirectory).pinPath("slot_counters")
            func littleEndian<T: FixedWidthInteger>(_ value: T) -> [String] {
                withUnsafeBytes(of: value.littleEndian) { $0.map { String($0) } }
            }
            var planted = dpm_slot_counters()
            (planted.rx_bytes, planted.tx_bytes) = (bytes, bytes - 2)
            let value = withUnsafeBytes(of: planted) { $0.map { String($0) } }
            let update = try telemetryTestRun("/usr/sbin/bpftool", ["map", "update", "pinned", counters, "key"]
                + littleEndian(UInt32(a.slot)) + ["value"] + value)
            #expect(update.status == 0, "\(update.errorOutput)")
            var totals = TelemetryTotals()
            let run = try telemetryTestRun("/usr/bin/taskset", ["-c", "0", TelemetryTestProducts.load, a.cgroupPath, "nap", "0.05"])
            #expect(run.status == 0, "\(run.errorOutput)")
            try drain(probes, into: &totals)
            #expect(totals[a.slot].rxBytes == bytes && totals[a.slot].txBytes == bytes - 2,
                    "rx \(totals[a.slot].rxBytes) tx \(totals[a.slot].txBytes), planted \(bytes)")
            #expect(totals[a.slot].rxPackets == 0 && totals[a.slot].runQueueWaits > 0)
        }
    }

    @Test func theRawTracepointFallbackCountsTheSame() throws {
        try withTwoTenants(flavour: .raw) { probes, a, b in
            #expect(probes.flavour == .raw)
            var totals = TelemetryTotals()
            let pages = 5_000
            let faults = try telemetryTestRun(TelemetryTestProducts.load, [a.cgroupPath, "touch-pages", "\(pages)"])
            let spin = try telemetryTestRun("/usr/bin/taskset",
                                            ["-c", "1", TelemetryTestProducts.load, a.cgroupPath, "spin", "0.5", "2"])
            #expect(faults.status == 0 && spin.status == 0)
            try drain(probes, into: &totals)
            #expect(totals[a.slot].pageFaults >= UInt64(pages))
            #expect(totals[a.slot].runQueueWaits > 0)
            #expect(totals[a.slot].cpuNanoseconds > 100_000_000)
            #expect(totals[b.slot].runQueueWaits == 0)
        }
    }

    @Test func theFallbackIsForcedByTheEnvironmentAndTypedTracepointsAreProbedOtherwise() throws {
        #expect(KernelFeatures.hasTypedTracepoints)
        var options = TelemetryProbes.Options()
        options.pinDirectory = nil
        setenv(TelemetryProbes.forceRawEnvironmentVariable, "1", 1)
        let forced = try TelemetryProbes(options: options)
        unsetenv(TelemetryProbes.forceRawEnvironmentVariable)
        #expect(forced.flavour == .raw)
        forced.close()
        #expect(try TelemetryProbes(options: options).flavour == .typed)
    }

    @Test func mapsArePinnedWithFieldNamesAndUnpinnedOnClose() throws {
        let pins = PinDirectory(path: telemetryTestPinDirectory())
        var options = TelemetryProbes.Options()
        options.pinDirectory = pins
        let probes = try TelemetryProbes(options: options)
        let dump = try telemetryTestRun("/usr/sbin/bpftool", ["map", "dump", "pinned", pins.pinPath("slot_counters")])
        #expect(dump.status == 0, "\(dump.errorOutput)")
        #expect(dump.output.contains("runq_wait_hist") && dump.output.contains("page_faults"))
        #expect(access(pins.pinPath("link_sched_switch_btf"), F_OK) == 0)
        probes.close()
        #expect(access(pins.path, F_OK) != 0)
    }
}

/// A loopback TCP listener whose thread reads and discards one connection; returns the socket and its port.
func telemetryTestTCPSink() throws -> (Int32, UInt16) {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(listener, $0, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, $0, &length) == 0
        }
    }
    guard bound else { throw TelemetryTestError("loopback listener: errno \(errno)") }
    Thread.detachNewThread {
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while recv(connection, &buffer, buffer.count, 0) > 0 {}
        close(connection)
    }
    return (listener, UInt16(bigEndian: address.sin_port))
}

/// `usage_usec` of a v2 cgroup's `cpu.stat`, in ns.
func telemetryTestCgroupUsageNanoseconds(_ path: String) throws -> UInt64 {
    let stat = try String(contentsOfFile: "\(path)/cpu.stat", encoding: .utf8)
    guard let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("usage_usec ") }),
          let microseconds = UInt64(line.dropFirst("usage_usec ".count))
    else { throw TelemetryTestError("no usage_usec in \(path)/cpu.stat") }
    return microseconds * 1000
}

func telemetryTestRelativeDifference(_ measured: UInt64, _ reference: UInt64) -> Double {
    abs(Double(measured) - Double(reference)) / Double(max(reference, 1))
}

/// Runs `body` with the calling thread allowed only on `cpu`, then restores its affinity.
func onlyOnCPU<Result>(_ cpu: Int, _ body: () throws -> Result) throws -> Result {
    let kernel = LinuxKernel()
    let previous = try kernel.threadAffinity(threadID: 0).get()
    let result = kernel.setThreadAffinity(threadID: 0, cpus: [cpu])
    guard result == 0 else { throw TelemetryTestError("pinning the test thread to CPU \(cpu): errno \(result)") }
    defer { _ = kernel.setThreadAffinity(threadID: 0, cpus: previous) }
    return try body()
}

func telemetryTestMonotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
