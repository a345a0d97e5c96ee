import Discover
import Foundation
import Pool
import Yams

/// Reads an `AgentConfig` from YAML, checking every field and naming the file, line and field of any error.
public enum ConfigParser {
    /// Reads and parses the file at `path`.
    public static func load(path: String) throws(ConfigError) -> AgentConfig {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, line: 0, field: "(file)", reason: "cannot read the file as UTF-8 text")
        }
        return try parse(text, file: path)
    }

    /// Parses YAML text; `file` names the source in errors.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> AgentConfig {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigError(file: file, line: 1, field: "(document)", reason: "the file is empty")
            }
            root = node
        } catch let error as ConfigError {
            throw error
        } catch let YamlError.parser(_, problem, mark, _) {
            throw ConfigError(file: file, line: mark.line, field: "(syntax)", reason: problem)
        } catch let YamlError.scanner(_, problem, mark, _) {
            throw ConfigError(file: file, line: mark.line, field: "(syntax)", reason: problem)
        } catch {
            throw ConfigError(file: file, line: 1, field: "(syntax)", reason: "\(error)")
        }
        return try Reader(file: file).config(Field(node: root, path: ""))
    }
}

/// A node and where it sits: its dotted path and line.
private struct Field {
    var node: Node
    var path: String
    var line: Int { node.mark?.line ?? 0 }

    func child(_ key: String, _ node: Node) -> Field { Field(node: node, path: path.isEmpty ? key : "\(path).\(key)") }
    func item(_ index: Int, _ node: Node) -> Field { Field(node: node, path: "\(path)[\(index)]") }
}

private struct Reader {
    let file: String

    func fail(_ field: Field, _ reason: String) -> ConfigError {
        ConfigError(file: file, line: field.line, field: field.path.isEmpty ? "(document)" : field.path, reason: reason)
    }

    /// The entries of a mapping, refusing keys outside `allowed` (a typo must not pass silently).
    func mapping(_ field: Field, allowed: Set<String>) throws(ConfigError) -> [String: Field] {
        guard let mapping = field.node.mapping else { throw fail(field, "expected a mapping of keys to values") }
        var entries: [String: Field] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw fail(field.child("?", key), "keys must be plain text") }
            let child = field.child(name, value)
            guard allowed.contains(name) else {
                throw fail(Field(node: key, path: child.path), "unknown key; expected one of \(allowed.sorted().joined(separator: ", "))")
            }
            if entries[name] != nil { throw fail(Field(node: key, path: child.path), "key given twice") }
            entries[name] = child
        }
        return entries
    }

    func sequence(_ field: Field) throws(ConfigError) -> [Field] {
        guard let sequence = field.node.sequence else { throw fail(field, "expected a list") }
        return sequence.enumerated().map { field.item($0.offset, $0.element) }
    }

    func string(_ field: Field) throws(ConfigError) -> String {
        guard let scalar = field.node.scalar, !scalar.string.isEmpty else { throw fail(field, "expected a non-empty text value") }
        return scalar.string
    }

    func number(_ field: Field) throws(ConfigError) -> Double {
        guard let value = Double(try string(field)), value.isFinite, value >= 0 else {
            throw fail(field, "expected a finite non-negative number, got '\(field.node.scalar?.string ?? "")'")
        }
        return value
    }

    func integer(_ field: Field, in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let value = Int(try string(field)), range.contains(value) else {
            throw fail(field, "expected a whole number in \(range.lowerBound)...\(range.upperBound), got '\(field.node.scalar?.string ?? "")'")
        }
        return value
    }

    func bool(_ field: Field) throws(ConfigError) -> Bool {
        switch try string(field).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw fail(field, "expected true or false")
        }
    }

    func duration(_ field: Field) throws(ConfigError) -> Double {
        let text = try string(field)
        guard let nanoseconds = Units.durationNanoseconds(text) else {
            throw fail(field, "expected a duration such as 1ms or 200us, got '\(text)'")
        }
        return nanoseconds
    }

    func size(_ field: Field) throws(ConfigError) -> Double {
        let text = try string(field)
        guard let bytes = Units.sizeBytes(text) else { throw fail(field, "expected a size such as 200Mi or 1G, got '\(text)'") }
        return bytes
    }

    func rate(_ field: Field) throws(ConfigError) -> Double {
        let text = try string(field)
        guard let bits = Units.rateBitsPerSecond(text) else { throw fail(field, "expected a rate such as 100Mbit, got '\(text)'") }
        return bits
    }

    func cpuList(_ field: Field) throws(ConfigError) -> [Int] {
        try sequence(field).map { (item: Field) throws(ConfigError) -> Int in try integer(item, in: 0...4095) }
    }

    // MARK: The document

    func config(_ root: Field) throws(ConfigError) -> AgentConfig {
        let keys: Set = ["tick", "reserve", "links", "tenants", "sources", "classes", "solve", "hysteresis", "realtime", "tick_cpu",
                         "metrics_port", "control_socket", "cgroup_root", "state_dir", "telemetry", "memory_limits", "central", "best_effort"]
        let entries = try mapping(root, allowed: keys)
        var config = AgentConfig()
        if let field = entries["tick"] {
            let nanoseconds = try duration(field)
            guard nanoseconds >= 100_000, nanoseconds <= 10e9 else { throw fail(field, "the tick must lie between 100us and 10s") }
            config.tickNanoseconds = UInt64(nanoseconds)
        }
        if let field = entries["reserve"] { config.reserve = try reserve(field) }
        if let field = entries["links"] { config.links = try sequence(field).map { (item: Field) throws(ConfigError) -> Link in try link(item) } }
        var classSLOs: [TenantClass: ServiceLevelObjective] = [:]
        if let field = entries["classes"] { classSLOs = try classes(field) }
        config.classObjectives = classSLOs
        if let field = entries["tenants"] {
            config.tenants = try tenants(field, classSLOs: classSLOs, links: Set(config.links.map(\.name)), workloads: &config.workloads)
        }
        if let field = entries["sources"] {
            config.sources = try sequence(field).map { (item: Field) throws(ConfigError) -> SourceOption in
                let text = try string(item)
                guard let option = SourceOption(parsing: text) else { throw fail(item, "unknown tenant source '\(text)'; expected \(SourceOption.forms)") }
                return option
            }
        }
        if let field = entries["solve"] {
            config.solvePolicy = try solvePolicy(field)
            if let interval = try mapping(field, allowed: ["when", "threshold", "min_interval"])["min_interval"] {
                config.solveMinimumIntervalNanoseconds = UInt64(try duration(interval))
            }
        }
        if let field = entries["hysteresis"] { config.hysteresis = try hysteresis(field) }
        if let field = entries["realtime"] {
            if field.node.scalar != nil {
                config.realtimePriority = try bool(field) ? 50 : nil
            } else {
                let realtime = try mapping(field, allowed: ["priority"])
                if let priority = realtime["priority"] { config.realtimePriority = Int32(try integer(priority, in: 1...99)) }
            }
        }
        if let field = entries["tick_cpu"] { config.tickCPU = try integer(field, in: 0...4095) }
        if let field = entries["metrics_port"] {
            if field.node.scalar?.string == "off" { config.metricsPort = nil } else { config.metricsPort = UInt16(try integer(field, in: 1...65535)) }
        }
        if let field = entries["control_socket"] { config.controlSocketPath = try absolutePath(field) }
        if let field = entries["cgroup_root"] { config.cgroupRoot = try absolutePath(field) }
        if let field = entries["state_dir"] { config.stateDirectory = try absolutePath(field) }
        if let field = entries["telemetry"] {
            let text = try string(field)
            guard let choice = AgentConfig.TelemetryChoice(rawValue: text) else {
                throw fail(field, "expected one of \(AgentConfig.TelemetryChoice.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
            }
            config.telemetry = choice
        }
        if let field = entries["memory_limits"] { config.memoryLimits = try bool(field) }
        if let field = entries["best_effort"], let soak = try mapping(field, allowed: ["soak_owned_cores"])["soak_owned_cores"] {
            config.idleSoak = try bool(soak) ? .ownedCores : .off
        }
        if let field = entries["central"] { config.central = try central(field) }
        if let field = entries["tick_cpu"], let cpu = config.tickCPU, !config.reserve.coreIDs.isEmpty, !config.reserve.coreIDs.contains(cpu) {
            throw fail(field, "the tick thread must run on a housekeeping core (reserve.cores: \(config.reserve.coreIDs))")
        }
        return config
    }

    func absolutePath(_ field: Field) throws(ConfigError) -> String {
        let path = try string(field)
        guard path.hasPrefix("/") else { throw fail(field, "expected an absolute path, got '\(path)'") }
        return path
    }

    func reserve(_ field: Field) throws(ConfigError) -> AgentConfig.Reserve {
        let entries = try mapping(field, allowed: ["cores", "memory", "bandwidth"])
        var reserve = AgentConfig.Reserve()
        if let cores = entries["cores"] {
            reserve.coreIDs = try cpuList(cores)
            if Set(reserve.coreIDs).count != reserve.coreIDs.count { throw fail(cores, "a CPU is listed twice") }
        }
        if let memory = entries["memory"] { reserve.memoryBytes = try size(memory) }
        if let bandwidth = entries["bandwidth"] { reserve.bandwidthBitsPerSecond = try rate(bandwidth) }
        return reserve
    }

    func link(_ field: Field) throws(ConfigError) -> Link {
        let entries = try mapping(field, allowed: ["name", "bandwidth"])
        guard let name = entries["name"] else { throw fail(field, "a link needs a name") }
        guard let bandwidth = entries["bandwidth"] else { throw fail(field, "a link needs a bandwidth") }
        let bits = try rate(bandwidth)
        guard bits > 0 else { throw fail(bandwidth, "a link's bandwidth must be positive") }
        return Link(name: try string(name), bandwidthBitsPerSecond: bits)
    }

    func tenantClass(_ field: Field) throws(ConfigError) -> TenantClass {
        let text = try string(field)
        guard let value = TenantClass(rawValue: text) else {
            throw fail(field, "unknown class '\(text)'; expected one of \(TenantClass.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    func slo(_ field: Field) throws(ConfigError) -> ServiceLevelObjective {
        let entries = try mapping(field, allowed: ["runq_wait_p99"])
        var slo = ServiceLevelObjective()
        if let wait = entries["runq_wait_p99"] {
            let nanoseconds = try duration(wait)
            guard nanoseconds > 0 else { throw fail(wait, "the run-queue wait objective must be positive") }
            slo.runQueueWaitP99Nanoseconds = nanoseconds
        }
        return slo
    }

    func classes(_ field: Field) throws(ConfigError) -> [TenantClass: ServiceLevelObjective] {
        let entries = try mapping(field, allowed: Set(TenantClass.allCases.map(\.rawValue)))
        var result: [TenantClass: ServiceLevelObjective] = [:]
        for (name, value) in entries {
            let settings = try mapping(value, allowed: ["slo"])
            if let slo = settings["slo"], let tenantClass = TenantClass(rawValue: name) { result[tenantClass] = try self.slo(slo) }
        }
        return result
    }

    /// A resource vector written as `{cpu: 0.5, memory: 200Mi, bandwidth: 10Mbit}`; absent keys take `absent`.
    func resources(_ field: Field, absent: Double) throws(ConfigError) -> ResourceVector {
        let entries = try mapping(field, allowed: ["cpu", "memory", "bandwidth"])
        return ResourceVector(
            cpuCores: try entries["cpu"].map { (value: Field) throws(ConfigError) -> Double in try number(value) } ?? absent,
            memoryBytes: try entries["memory"].map { (value: Field) throws(ConfigError) -> Double in try size(value) } ?? absent,
            networkBitsPerSecond: try entries["bandwidth"].map { (value: Field) throws(ConfigError) -> Double in try rate(value) } ?? absent
        )
    }

    /// `central: {url, token_file, host_id, interval, prior_refresh, spool_dir}`.
    func central(_ field: Field) throws(ConfigError) -> AgentConfig.Central {
        let entries = try mapping(field, allowed: ["url", "token_file", "host_id", "interval", "prior_refresh", "spool_dir"])
        guard let urlField = entries["url"] else { throw fail(field, "central needs a url, such as http://central.example:8470") }
        guard let tokenField = entries["token_file"] else { throw fail(field, "central needs a token_file holding this host's bearer token") }
        let text = try string(urlField)
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), !(url.host ?? "").isEmpty else {
            throw fail(urlField, "expected an http:// or https:// address with a host, got '\(text)'")
        }
        var central = AgentConfig.Central(url: url, tokenFile: try absolutePath(tokenField))
        if let hostField = entries["host_id"] {
            let host = try string(hostField)
            guard host.count <= 253, host.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }) else {
                throw fail(hostField, "expected 1-253 ASCII letters, digits, '.', '_' or '-', got '\(host)'")
            }
            central.hostID = host
        }
        if let interval = entries["interval"] {
            let nanoseconds = try duration(interval)
            guard nanoseconds >= 1e9, nanoseconds <= 86_400e9, nanoseconds.truncatingRemainder(dividingBy: 1e9) == 0 else {
                throw fail(interval, "expected whole seconds between 1s and 24h")
            }
            central.intervalSeconds = Int(nanoseconds / 1e9)
        }
        if let refresh = entries["prior_refresh"] {
            let nanoseconds = try duration(refresh)
            guard nanoseconds >= 1e9 else { throw fail(refresh, "expected at least 1s") }
            central.priorRefreshSeconds = nanoseconds / 1e9
        }
        if let spool = entries["spool_dir"] { central.spoolDirectory = try absolutePath(spool) }
        return central
    }

    func tenants(
        _ field: Field, classSLOs: [TenantClass: ServiceLevelObjective], links: Set<String>, workloads: inout [String: String]
    ) throws(ConfigError) -> [TenantSpec] {
        var seenNames: Set<String> = []
        var seenCgroups: Set<String> = []
        return try sequence(field).map { (item: Field) throws(ConfigError) -> TenantSpec in
            let entries = try mapping(item, allowed: ["name", "cgroup", "class", "slo", "guaranteed", "cap", "link", "workload"])
            guard let nameField = entries["name"] else { throw fail(item, "a tenant needs a name") }
            guard let cgroupField = entries["cgroup"] else { throw fail(item, "a tenant needs a cgroup path (relative to the cgroup root)") }
            guard let classField = entries["class"] else { throw fail(item, "a tenant needs a class") }
            let name = try string(nameField)
            guard seenNames.insert(name).inserted else { throw fail(nameField, "tenant '\(name)' is declared twice") }
            let cgroup = try string(cgroupField)
            guard !cgroup.hasPrefix("/"), !cgroup.split(separator: "/").contains("..") else {
                throw fail(cgroupField, "expected a path relative to the cgroup root without '..', got '\(cgroup)'")
            }
            guard seenCgroups.insert(cgroup).inserted else { throw fail(cgroupField, "cgroup '\(cgroup)' belongs to another tenant already") }
            let tenantClass = try self.tenantClass(classField)
            var spec = TenantSpec(name: name, cgroupPath: cgroup, tenantClass: tenantClass, slo: classSLOs[tenantClass] ?? ServiceLevelObjective())
            if let slo = entries["slo"] {
                let own = try self.slo(slo)
                spec.slo.runQueueWaitP99Nanoseconds = own.runQueueWaitP99Nanoseconds ?? spec.slo.runQueueWaitP99Nanoseconds
            }
            if let guaranteed = entries["guaranteed"] { spec.guaranteed = try resources(guaranteed, absent: 0) }
            if let cap = entries["cap"] { spec.cap = try resources(cap, absent: .infinity) }
            if let link = entries["link"] {
                let linkName = try string(link)
                guard links.contains(linkName) else { throw fail(link, "link '\(linkName)' is not declared under links") }
                spec.linkName = linkName
            }
            if let workload = entries["workload"] {
                let label = try string(workload)
                guard label.utf8.count <= 253 else { throw fail(workload, "a workload label is at most 253 bytes") }
                workloads[name] = label
            }
            do {
                try spec.validate()
            } catch {
                throw fail(item, "\(error)")
            }
            return spec
        }
    }

    func solvePolicy(_ field: Field) throws(ConfigError) -> AgentConfig.SolvePolicy {
        let entries = try mapping(field, allowed: ["when", "threshold", "min_interval"])
        let when = try entries["when"].map { (value: Field) throws(ConfigError) -> String in try string(value) } ?? "on-change"
        switch when {
        case "every-tick":
            if let threshold = entries["threshold"] { throw fail(threshold, "a threshold only applies to when: on-change") }
            return .everyTick
        case "on-change":
            let threshold = try entries["threshold"].map { (value: Field) throws(ConfigError) -> Double in try number(value) } ?? 0.1
            return .onChange(relativeThreshold: threshold)
        default:
            throw fail(entries["when"] ?? field, "expected every-tick or on-change, got '\(when)'")
        }
    }

    func hysteresis(_ field: Field) throws(ConfigError) -> AgentConfig.Hysteresis {
        let entries = try mapping(field, allowed: ["cpu", "memory", "shrink_hold"])
        var hysteresis = AgentConfig.Hysteresis()
        if let cpu = entries["cpu"] { hysteresis.cpuCores = try number(cpu) }
        if let memory = entries["memory"] {
            hysteresis.memoryFraction = try number(memory)
            guard hysteresis.memoryFraction < 1 else { throw fail(memory, "expected a fraction below 1") }
        }
        if let hold = entries["shrink_hold"] { hysteresis.shrinkHoldNanoseconds = UInt64(try duration(hold)) }
        return hysteresis
    }
}
