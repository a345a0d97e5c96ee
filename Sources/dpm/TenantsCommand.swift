import ArgumentParser
import Discover
import Dispatch
import Foundation
import Pool
import Yams

/// `dpm tenants`: what the tenant sources find right now, merged by the agent's rule.
struct TenantsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenants",
        abstract: "List the tenants dpm discovers: containers, pods, microVMs and static ones.",
        discussion: """
            Each source is looked at once and the findings are merged as the agent merges them (a cgroup claimed \
            twice goes to static, then microVM, then Kubernetes, then Docker). Warnings go to standard error.
            Without --source: static (with --config), docker at /var/run/docker.sock when it exists, kubernetes \
            when a kubepods cgroup exists, and vCPU threads of Firecracker and Cloud Hypervisor.
            """
    )

    @Option(help: "A YAML file with static tenants: `tenants: [{name, cgroup, class, cpu.min, cpu.max, memory.min, memory.max, slo.runq-p99}]`; cgroup may be a glob.")
    var config: String?

    @Option(name: .customLong("source"), help: "docker:SOCKET | kubernetes[:SCAN_ROOT] | qemu:QMP_SOCKET | vcpu-threads | static (repeatable).")
    var sources: [String] = []

    @Option(help: "table or json.")
    var format: OutputFormat = .table

    enum OutputFormat: String, ExpressibleByArgument {
        case table, json
    }

    func run() throws {
        let cgroups = CgroupFS.detect()
        let chosen = try makeSources(cgroups: cgroups)
        // ParsableCommand is synchronous: the scans run on Swift's pool while this thread waits for them.
        let box = ScanBox()
        let done = DispatchSemaphore(value: 0)
        Task {
            var findings: [(SourceID, [DiscoveredTenant], [Int])] = []
            var warnings: [String] = []
            for source in chosen {
                do throws(DiscoveryError) {
                    let scan = try await source.scan()
                    findings.append((source.id, scan.tenants, scan.reservedCoreIDs))
                    warnings += scan.warnings.map(\.description)
                } catch {
                    warnings.append("\(source.id): source unavailable: \(error)")
                }
            }
            box.set(TenantTable.merge(findings), warnings)
            done.signal()
        }
        done.wait()
        let (table, warnings) = box.get()
        for warning in warnings + table.conflicts.map(\.description) {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        let rows = table.tenants.map { TenantRow($0, cgroups: cgroups) }
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let document = TenantsDocument(tenants: rows, reservedCoreIDs: table.reservedCoreIDs)
            print(String(decoding: try encoder.encode(document), as: UTF8.self))
        case .table:
            print(TenantRow.table(rows))
            if !table.reservedCoreIDs.isEmpty { print("reserved CPUs (kubelet CPU manager): \(table.reservedCoreIDs.map(String.init).joined(separator: ","))") }
        }
    }

    private func makeSources(cgroups: CgroupFS) throws -> [any TenantSource] {
        var result: [any TenantSource] = []
        let staticTenants = try config.map { try StaticTenantsFile.load(path: $0) }
        if sources.isEmpty {
            if let staticTenants { result.append(StaticSource(tenants: staticTenants, location: config ?? "", cgroups: cgroups)) }
            if FileManager.default.fileExists(atPath: "/var/run/docker.sock") { result.append(DockerSource(cgroups: cgroups)) }
            if ["/kubepods.slice", "/kubepods"].contains(where: { FileManager.default.fileExists(atPath: cgroups.directory($0)) }) {
                result.append(KubernetesSource(podList: KubernetesSource.podListFromEnvironment(), cgroups: cgroups))
            }
            result.append(VCPUThreadSource(cgroups: cgroups))
            return result
        }
        for source in sources {
            if source == "static" {
                guard let staticTenants else { throw ValidationError("--source static needs --config FILE") }
                result.append(StaticSource(tenants: staticTenants, location: config ?? "", cgroups: cgroups))
            } else if let option = SourceOption(parsing: source) {
                result.append(option.makeSource(cgroups: cgroups))
            } else {
                throw ValidationError("unknown source \(source): use \(SourceOption.forms) or static")
            }
        }
        return result
    }
}

/// The static-tenant list of a YAML file (kept minimal until the agent's configuration file holds it).
enum StaticTenantsFile {
    struct Document: Decodable {
        var tenants: [StaticTenant]
    }

    static func load(path: String) throws -> [StaticTenant] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("\(path): cannot read: \(error.localizedDescription)")
        }
        do {
            return try YAMLDecoder().decode(Document.self, from: text).tenants
        } catch let error as DecodingError {
            throw ValidationError("\(path): \(describe(error))")
        } catch {
            throw ValidationError("\(path): \(error)")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case let .keyNotFound(key, context): "\(field(context.codingPath + [key])): missing"
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context):
            "\(field(context.codingPath)): \(context.debugDescription)"
        @unknown default: "\(error)"
        }
    }

    private static func field(_ path: [any CodingKey]) -> String {
        path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingPrefix(".").description
    }
}

/// One printed tenant.
struct TenantRow: Encodable {
    var name: String
    var source: String
    var tenantClass: String
    var cgroup: String
    var cgroupID: UInt64
    var pids: Int
    var threads: [Int32]
    var spec: String
    var exclusiveCPUs: [Int]

    enum CodingKeys: String, CodingKey {
        case name, source, tenantClass = "class", cgroup, cgroupID = "cgroup_id", pids, threads, spec, exclusiveCPUs = "exclusive_cpus"
    }

    init(_ tenant: DiscoveredTenant, cgroups: CgroupFS) {
        name = tenant.name
        source = tenant.source.description
        tenantClass = tenant.spec.tenantClass.rawValue
        cgroup = tenant.spec.cgroupPath
        cgroupID = tenant.cgroupID
        pids = (try? cgroups.processIDsRecursively(tenant.spec.cgroupPath).count) ?? 0
        threads = tenant.spec.pinnedThreadIDs
        exclusiveCPUs = tenant.exclusiveCoreIDs
        spec = Self.describe(tenant.spec)
    }

    /// `cpu 0.5..2 mem 64Mi..1G runq-p99 500us`; `-` for no bound.
    static func describe(_ spec: TenantSpec) -> String {
        func cores(_ value: Double) -> String { value.isFinite ? String(format: "%g", value) : "-" }
        func bytes(_ value: Double) -> String {
            guard value.isFinite else { return "-" }
            for (suffix, factor) in [("Gi", 0x1p30), ("Mi", 0x1p20), ("Ki", 0x1p10)] where value >= factor {
                return String(format: "%g", value / factor) + suffix
            }
            return String(format: "%g", value)
        }
        var parts = [
            "cpu \(cores(spec.guaranteed.cpuCores))..\(cores(spec.cap.cpuCores))",
            "mem \(bytes(spec.guaranteed.memoryBytes))..\(bytes(spec.cap.memoryBytes))",
        ]
        if let p99 = spec.slo.runQueueWaitP99Nanoseconds { parts.append("runq-p99 \(String(format: "%g", p99 / 1000))us") }
        return parts.joined(separator: " ")
    }

    static func table(_ rows: [TenantRow]) -> String {
        let header = ["NAME", "SOURCE", "CLASS", "CGROUP", "CGROUP_ID", "PIDS", "THREADS", "SPEC"]
        let cells = rows.map { row in
            [row.name, row.source, row.tenantClass, row.cgroup, String(row.cgroupID), String(row.pids),
             row.threads.isEmpty ? "-" : row.threads.map(String.init).joined(separator: ","), row.spec]
        }
        let widths = header.indices.map { column in ([header] + cells).map { $0[column].count }.max() ?? 0 }
        return ([header] + cells).map { line in
            line.enumerated().map { column, cell in
                column == line.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

struct TenantsDocument: Encodable {
    var tenants: [TenantRow]
    var reservedCoreIDs: [Int]

    enum CodingKeys: String, CodingKey {
        case tenants, reservedCoreIDs = "reserved_cpus"
    }
}

/// Hands the scan result from the task to the waiting command thread.
private final class ScanBox: @unchecked Sendable {
    private let lock = NSLock()
    private var table = TenantTable()
    private var warnings: [String] = []

    func set(_ table: TenantTable, _ warnings: [String]) { lock.withLock { (self.table, self.warnings) = (table, warnings) } }
    func get() -> (TenantTable, [String]) { lock.withLock { (table, warnings) } }
}
