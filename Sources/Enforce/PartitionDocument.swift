import Foundation
import Pool
import Yams

/// A partition written by hand (`dpm apply FILE`): per tenant a cgroup path and whichever settings to change.
///
/// JSON or YAML (JSON is read through the same YAML parser, so both report lines). Keys that are absent leave the
/// setting as it is. Shape:
/// `{"tenants": [{"cgroup": "pods/lc", "cores": [1], "cpu_quota_cores": 0.2, "cpu_weight": 100,
///   "memory_max_bytes": 209715200, "memory_high_bytes": 167772160, "memory_min_bytes": 0, "mems": [0], "cpu_idle": false,
///   "bandwidth_bps": {"eth0": 50000000}, "name": "lc", "threads": [1234],
///   "guaranteed": {"cpu_cores": 0.1, "memory_bytes": 104857600, "bandwidth_bps": 10000000}}]}`.
/// A tenant with `cores` owns them exclusively; one with `cpu_idle: true` runs at idle priority and may share them.
/// At the top level, `"ingress_bps": {"eth0": 100000000}` shapes all
/// that a link receives (per link, not per tenant; see `Enforcer.shapeIngress`).
public enum PartitionDocument {
    /// What a document asks for: the tenants, and the links whose received traffic is shaped as a whole.
    public struct Partition: Sendable, Equatable {
        public var tenants: [TenantState]
        public var ingressBitsPerSecond: [String: Double]
    }

    /// A document that cannot be read, with the file, line and field at fault.
    public struct Error: Swift.Error, Equatable, Sendable, CustomStringConvertible {
        public var file: String
        public var line: Int?
        public var field: String
        public var reason: String

        public var description: String {
            "\(file)\(line.map { ":\($0)" } ?? ""): \(field): \(reason)"
        }
    }

    public static func load(path: String) throws(Error) -> Partition {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Error(file: path, line: nil, field: "(file)", reason: "cannot be read: \(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(Error) -> Partition {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw Error(file: file, line: Self.line(of: error), field: "(document)", reason: "not valid JSON or YAML: \(error)")
        }
        let reader = Reader(file: file)
        guard let root, let top = root.mapping else { throw reader.error(root, "(document)", "must be a mapping with a \"tenants\" list") }
        try reader.onlyKeys(top, ["tenants", "ingress_bps"], field: "(document)")
        guard let list = top["tenants"]?.sequence else { throw reader.error(root, "tenants", "must be a list of tenants") }
        var tenants: [TenantState] = []
        for (index, node) in list.enumerated() {
            let tenant = try reader.tenant(node, field: "tenants[\(index)]")
            if tenants.contains(where: { $0.name == tenant.name }) {
                throw reader.error(node, "tenants[\(index)].name", "\"\(tenant.name)\" appears twice")
            }
            tenants.append(tenant)
        }
        var ingress: [String: Double] = [:]
        if let node = top["ingress_bps"] { ingress = try reader.rates(node, "ingress_bps") }
        return Partition(tenants: tenants, ingressBitsPerSecond: ingress)
    }

    private static func line(of error: any Swift.Error) -> Int? {
        if let yaml = error as? YamlError, case let .parser(_, _, mark, _) = yaml { return mark.line }
        if let yaml = error as? YamlError, case let .scanner(_, _, mark, _) = yaml { return mark.line }
        return nil
    }

    /// Walks the node tree, turning every mistake into an `Error` with its line.
    private struct Reader {
        let file: String

        func error(_ node: Node?, _ field: String, _ reason: String) -> Error {
            Error(file: file, line: node?.mark?.line, field: field, reason: reason)
        }

        func onlyKeys(_ mapping: Node.Mapping, _ allowed: [String], field: String) throws(Error) {
            for (key, _) in mapping {
                guard let name = key.string, allowed.contains(name) else {
                    throw error(key, field, "unknown key \"\(key.string ?? "?")\" (known: \(allowed.joined(separator: ", ")))")
                }
            }
        }

        func number(_ node: Node, _ field: String, minimum: Double = 0) throws(Error) -> Double {
            guard let text = node.scalar?.string, let value = Double(text), value.isFinite, value >= minimum else {
                throw error(node, field, "must be a number ≥ \(minimum), not \(node.scalar?.string ?? "a collection")")
            }
            return value
        }

        func integers(_ node: Node, _ field: String) throws(Error) -> [Int] {
            guard let sequence = node.sequence else { throw error(node, field, "must be a list of numbers") }
            var values: [Int] = []
            for (index, item) in sequence.enumerated() {
                guard let text = item.scalar?.string, let value = Int(text), value >= 0 else {
                    throw error(item, "\(field)[\(index)]", "must be a non-negative integer")
                }
                values.append(value)
            }
            return values
        }

        func rates(_ node: Node, _ field: String) throws(Error) -> [String: Double] {
            guard let mapping = node.mapping else { throw error(node, field, "must map link names to bits per second") }
            var rates: [String: Double] = [:]
            for (key, value) in mapping {
                guard let link = key.string, !link.isEmpty else { throw error(key, field, "a link name must be a string") }
                rates[link] = try number(value, "\(field).\(link)", minimum: 1)
            }
            return rates
        }

        func tenant(_ node: Node, field: String) throws(Error) -> TenantState {
            guard let mapping = node.mapping else { throw error(node, field, "must be a mapping") }
            try onlyKeys(mapping, [
                "name", "cgroup", "cores", "mems", "cpu_quota_cores", "cpu_weight", "memory_max_bytes", "memory_high_bytes",
                "memory_min_bytes", "bandwidth_bps", "threads", "guaranteed", "cpu_idle",
            ], field: field)
            guard let cgroup = mapping["cgroup"]?.string, !cgroup.isEmpty, !cgroup.split(separator: "/").contains("..") else {
                throw error(mapping["cgroup"] ?? node, "\(field).cgroup", "a cgroup path relative to the cgroup root is required")
            }
            var tenant = TenantState(name: mapping["name"]?.string ?? cgroup, cgroupPath: cgroup)
            if let cores = mapping["cores"] {
                let ids = try integers(cores, "\(field).cores")
                if ids.isEmpty { throw error(cores, "\(field).cores", "must list at least one CPU") }
                tenant.settings.cpus = CPUSet(ids)
                tenant.exclusive = true
            }
            if let mems = mapping["mems"] { tenant.settings.mems = CPUSet(try integers(mems, "\(field).mems")) }
            if let quota = mapping["cpu_quota_cores"] { tenant.settings.cpuQuotaCores = try number(quota, "\(field).cpu_quota_cores", minimum: TenantState.minimumQuotaCores) }
            if let weight = mapping["cpu_weight"] {
                let value = try number(weight, "\(field).cpu_weight", minimum: 1)
                if value > 10_000 || value != value.rounded() { throw error(weight, "\(field).cpu_weight", "must be an integer from 1 to 10000") }
                tenant.settings.cpuWeight = Int(value)
            }
            if let idle = mapping["cpu_idle"] {
                switch idle.scalar?.string {
                case "true": tenant.settings.cpuIdle = true
                case "false": tenant.settings.cpuIdle = false
                default: throw error(idle, "\(field).cpu_idle", "must be true or false")
                }
            }
            if let bytes = mapping["memory_max_bytes"] { tenant.settings.memoryMaxBytes = try number(bytes, "\(field).memory_max_bytes", minimum: 4096) }
            if let bytes = mapping["memory_high_bytes"] { tenant.settings.memoryHighBytes = try number(bytes, "\(field).memory_high_bytes") }
            if let bytes = mapping["memory_min_bytes"] { tenant.settings.memoryMinBytes = try number(bytes, "\(field).memory_min_bytes") }
            if let rates = mapping["bandwidth_bps"] { tenant.bandwidthBitsPerSecond = try self.rates(rates, "\(field).bandwidth_bps") }
            if let threads = mapping["threads"] {
                tenant.pinnedThreadIDs = try integers(threads, "\(field).threads").map { Int32(clamping: $0) }
            }
            if let guaranteed = mapping["guaranteed"] {
                guard let g = guaranteed.mapping else { throw error(guaranteed, "\(field).guaranteed", "must be a mapping") }
                try onlyKeys(g, ["cpu_cores", "memory_bytes", "bandwidth_bps"], field: "\(field).guaranteed")
                if let value = g["cpu_cores"] { tenant.guaranteed.cpuCores = try number(value, "\(field).guaranteed.cpu_cores") }
                if let value = g["memory_bytes"] { tenant.guaranteed.memoryBytes = try number(value, "\(field).guaranteed.memory_bytes") }
                if let value = g["bandwidth_bps"] { tenant.guaranteed.networkBitsPerSecond = try number(value, "\(field).guaranteed.bandwidth_bps") }
            }
            return tenant
        }
    }
}
