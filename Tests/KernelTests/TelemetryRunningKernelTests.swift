import BPFLoader
import Foundation
import Glibc
import Testing

/// What each CPU runs now (`TelemetryProbes.runningTask(cpu:)`, the `cpu_running` words the scheduler probes store at
/// every context switch) on the real kernel, in both flavours.
@Suite(.serialized) struct TelemetryRunningKernelTests {
    /// A SCHED_FIFO spinner pinned to CPU 1 in a watched cgroup: while it spins, CPU 1's word names its slot, with a
    /// run start in the past that the reader sees grow (the run no record carries yet); once it exits, the word
    /// names something else within a few milliseconds.
    @Test(arguments: [TelemetryProbes.TracepointFlavour.typed, .raw])
    func aSpinnerShowsInItsCPUsRunningWordWhileItRuns(flavour: TelemetryProbes.TracepointFlavour) throws {
        let cgroup = try TelemetryTestCgroup()
        var options = TelemetryProbes.Options()
        options.pinDirectory = PinDirectory(path: telemetryTestPinDirectory())
        options.flavour = flavour
        let probes = try TelemetryProbes(options: options)
        defer { probes.close() }
        let tenant = try probes.watch(cgroupPath: cgroup.path)
        #expect(probes.cpuCount >= 2)
        try onlyOnCPU(0) {
            let spinner = Process()
            spinner.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
            spinner.arguments = ["-c", "1", TelemetryTestProducts.load, cgroup.path, "spin-fifo", "0.3", "1"]
            spinner.standardOutput = Pipe()
            try spinner.run()
            // Each read while the spinner runs: whether the word named the tenant, and for how long its run had gone.
            var reads: [(isTenant: Bool, runNanoseconds: UInt64)] = []
            var firstSeen: Int?
            while spinner.isRunning {
                let running = probes.runningTask(cpu: 1)
                let now = telemetryTestMonotonicNanoseconds()
                let isTenant = running.slot == tenant.slot
                #expect(running.sinceNanoseconds <= now, "a run start in the future: \(running.sinceNanoseconds) > \(now)")
                if isTenant, firstSeen == nil { firstSeen = reads.count }
                reads.append((isTenant, now &- running.sinceNanoseconds))
                telemetryTestSleep(milliseconds: 1)
            }
            #expect(spinner.terminationStatus == 0)
            let first = try #require(firstSeen, "CPU 1's word never named the spinner's slot in \(reads.count) reads")
            // From its first sight to its exit (the last 20 reads may follow the spin's end) the spinner holds CPU 1.
            let spinning = reads[first..<max(first, reads.count - 20)]
            // About 250 at 1 ms apart; a loaded host stretches the test thread's sleeps (79 seen at load 13).
            #expect(spinning.count >= 20, "\(spinning.count) reads while it spun")
            let named = spinning.filter(\.isTenant).count
            #expect(Double(named) >= 0.9 * Double(spinning.count), "the word named the spinner in \(named) of \(spinning.count) reads")
            // The run grows between switches: the reader sees tens of milliseconds that no record carries yet.
            let longest = spinning.filter(\.isTenant).map(\.runNanoseconds).max() ?? 0
            #expect(longest >= 20_000_000, "longest run seen: \(longest) ns")
            // Gone: within 50 ms CPU 1's word names another slot or none.
            var gone = false
            for _ in 0..<50 where !gone {
                gone = probes.runningTask(cpu: 1).slot != tenant.slot
                telemetryTestSleep(milliseconds: 1)
            }
            #expect(gone, "CPU 1's word still names the exited spinner's slot")
        }
    }
}
