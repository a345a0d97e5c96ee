import BPFLoader
import Foundation
import Glibc
import Testing

/// `dpm telemetry` as a user runs it: output format, bad input, privileges, vanishing cgroups, Ctrl-C.
@Suite(.serialized) struct TelemetryCommandKernelTests {
    private func telemetry(_ arguments: [String], pins: String = telemetryTestPinDirectory()) throws -> TelemetryTestRun {
        try telemetryTestRun(TelemetryTestProducts.dpm, ["telemetry", "--pin-directory", pins] + arguments)
    }

    @Test func jsonPrintsOneObjectPerIntervalPerTenantWithEveryField() throws {
        let a = try TelemetryTestCgroup()
        let b = try TelemetryTestCgroup()
        let run = try telemetry(["--cgroup", a.path, "--cgroup", b.path, "--interval", "300ms", "--duration", "1s",
                                 "--format", "json"])
        #expect(run.status == 0, "\(run.errorOutput)")
        let objects = try run.output.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(objects.count >= 6 && objects.count % 2 == 0)
        for object in objects {
            for field in ["cgroup", "interval_ns", "cpu_ns", "runq_wait_ns", "runq_waits", "runq_wait_hist",
                          "ctx_switches", "page_faults", "rx_bytes", "tx_bytes", "rx_packets", "tx_packets",
                          "dropped_records"] {
                #expect(object[field] != nil, "missing \(field)")
            }
            #expect((object["runq_wait_hist"] as? [Any])?.count == TelemetryTotals.histogramBuckets)
            #expect([a.path, b.path].contains(object["cgroup"] as? String ?? ""))
            #expect(((object["interval_ns"] as? Int) ?? 0) > 0)
        }
        // Full intervals, then the rest of the duration.
        #expect(objects.dropLast(2).allSatisfy { ($0["interval_ns"] as? Int ?? 0) >= 300_000_000 })
        let covered = objects.filter { $0["cgroup"] as? String == a.path }.map { $0["interval_ns"] as? Int ?? 0 }
        #expect(covered.reduce(0, +) >= 1_000_000_000)
    }

    @Test(arguments: [
        ("/sys/fs/cgroup/unified/dpm-test-does-not-exist", "No such file"),
        ("/tmp", "not on a cgroup2 file system"),
        ("/sys/fs/cgroup/unified/cgroup.procs", "not a directory"),
    ])
    func badPathsAreRefusedWithTheReason(path: String, reason: String) throws {
        let run = try telemetry(["--cgroup", path, "--duration", "1s"])
        #expect(run.status == 64)
        #expect(run.errorOutput.contains(path) && run.errorOutput.contains(reason), "\(run.errorOutput)")
    }

    @Test func theSameCgroupTwiceIsRefused() throws {
        let a = try TelemetryTestCgroup()
        let run = try telemetry(["--cgroup", a.path, "--cgroup", a.path + "/", "--duration", "1s"])
        #expect(run.status == 64)
        #expect(run.errorOutput.contains("is the same cgroup as"), "\(run.errorOutput)")
    }

    @Test func withoutCapabilitiesTheErrorSaysWhichAreMissing() throws {
        let a = try TelemetryTestCgroup()
        let pins = telemetryTestPinDirectory()
        // Root with an empty bounding set execs with no capabilities at all.
        let run = try telemetryTestRun("/usr/bin/setpriv", [
            "--bounding-set=-all", "--inh-caps=-all", TelemetryTestProducts.dpm, "telemetry", "--pin-directory", pins,
            "--cgroup", a.path, "--duration", "1s",
        ])
        #expect(run.status == 1)
        #expect(run.errorOutput.contains("missing capabilities") && run.errorOutput.contains("CAP_BPF"),
                "\(run.errorOutput)")
        #expect(access(pins, F_OK) != 0)
    }

    /// In a private mount namespace (the host's bpffs stays as it is) where /sys/fs/bpf is not bpffs, `dpm telemetry`
    /// mounts bpffs there, pins into it and runs.
    @Test func bpffsIsMountedWhenMissing() throws {
        let a = try TelemetryTestCgroup()
        let pins = telemetryTestPinDirectory()
        let run = try telemetryTestRun("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", """
            while [ "$(stat -f -c %T /sys/fs/bpf)" = bpf_fs ]; do umount /sys/fs/bpf || exit 3; done
            echo "before: $(stat -f -c %T /sys/fs/bpf)"
            "$0" telemetry --pin-directory "$1" --cgroup "$2" --duration 300ms --format json >/dev/null || exit 4
            echo "after: $(stat -f -c %T /sys/fs/bpf)"
            """, TelemetryTestProducts.dpm, pins, a.path])
        #expect(run.status == 0, "\(run.output) \(run.errorOutput)")
        #expect(run.output.contains("before: sysfs"), "\(run.output)")
        #expect(run.output.contains("after: bpf_fs"), "\(run.output)")
    }

    /// In a private mount namespace where an empty tmpfs hides /sys/kernel/btf, the kernel offers no BTF as far as
    /// dpm and libbpf can see: the error names the missing file and the kernel option, and nothing is pinned.
    @Test func withoutKernelBTFTheErrorSaysSo() throws {
        let a = try TelemetryTestCgroup()
        let pins = telemetryTestPinDirectory()
        let run = try telemetryTestRun("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", """
            mount -t tmpfs dpm-test-no-btf /sys/kernel/btf || exit 3
            exec "$0" telemetry --pin-directory "$1" --cgroup "$2" --duration 300ms
            """, TelemetryTestProducts.dpm, pins, a.path])
        #expect(run.status == 1, "\(run.errorOutput)")
        #expect(run.errorOutput.contains("the kernel has no BTF at \(KernelFeatures.kernelBTFPath)")
                && run.errorOutput.contains("CONFIG_DEBUG_INFO_BTF"), "\(run.errorOutput)")
        #expect(access(pins, F_OK) != 0)
    }

    @Test func aRemovedCgroupIsReportedGoneAndTheOthersContinue() throws {
        let a = try TelemetryTestCgroup()
        let b = try TelemetryTestCgroup()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TelemetryTestProducts.dpm)
        process.arguments = ["telemetry", "--pin-directory", telemetryTestPinDirectory(), "--cgroup", a.path,
                             "--cgroup", b.path, "--interval", "200ms", "--duration", "1500ms", "--format", "json"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // Remove B once the first interval is out (both are watched by then).
        var text = ""
        while !text.contains("\n") {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        #expect(rmdir(b.path) == 0)
        text += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let lines = text.split(separator: "\n").map(String.init)
        let gone = try #require(lines.firstIndex { $0.contains("\"gone\":true") && $0.contains(b.path) })
        #expect(lines[(gone + 1)...].contains { $0.contains(a.path) && $0.contains("\"cpu_ns\"") })
        #expect(!lines[(gone + 1)...].contains { $0.contains(b.path) })
    }

    @Test(arguments: [SIGINT, SIGTERM])
    func aStopSignalRemovesPinsAndAttachments(signal: Int32) throws {
        let a = try TelemetryTestCgroup()
        let pins = telemetryTestPinDirectory()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TelemetryTestProducts.dpm)
        process.arguments = ["telemetry", "--pin-directory", pins, "--cgroup", a.path]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // The cgroup's link pin appears once the network programs are attached (the map pins come earlier).
        let linkPin = "\(pins)/link_cgroup_ingress_\(try TelemetryProbes.cgroupID(path: a.path))"
        var waitedMilliseconds = 0
        while access(linkPin, F_OK) != 0 && waitedMilliseconds < 20_000 {
            telemetryTestSleep(milliseconds: 10)
            waitedMilliseconds += 10
        }
        let attached = try telemetryTestRun("/usr/sbin/bpftool", ["cgroup", "show", a.path])
        #expect(attached.output.contains("cgroup_ingress") || attached.output.contains("cgroup_skb"))
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        #expect(access(pins, F_OK) != 0)
        let detached = try telemetryTestRun("/usr/sbin/bpftool", ["cgroup", "show", a.path])
        #expect(!detached.output.contains("cgroup_skb") && !detached.output.contains("cgroup_ingress"))
    }
}
