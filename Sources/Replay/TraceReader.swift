import Foundation

/// The trace layouts `dpm replay` reads.
public enum TraceFormat: String, Sendable, CaseIterable, Codable {
    /// PlanetLab (CloudSim): one integer per line, no header, one file per VM; a directory is many series.
    case planetlab
    /// Azure Public Dataset V1 as packaged here: header `step,vm_…`; step k is 300·k seconds after the start.
    case azureCSV = "azure-csv"
    /// Alibaba cluster-trace-v2018 aggregates: header `cpu_util_percent,mem_util_percent,…`, one row per step.
    case alibabaCSV = "alibaba-csv"
    /// Any CSV with a header; a column named `timestamp` or `time` (seconds) or `step` gives the time of a row.
    case csv
}

/// What went wrong reading a trace, with the file and line a person needs to find it.
public enum TraceError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case empty(path: String)
    case malformedRow(path: String, line: Int, reason: String)
    case unknownColumn(path: String, column: String, available: [String])

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "\(path): cannot read: \(reason)"
        case .empty(let path): "\(path): the file holds no data"
        case .malformedRow(let path, let line, let reason): "\(path):\(line): \(reason)"
        case .unknownColumn(let path, let column, let available):
            "\(path): no column named '\(column)'; columns: \(available.joined(separator: ", "))"
        }
    }
}

/// Reads trace files into usage series. File access and decompression live here, never in Predict.
public struct TraceReader: Sendable {
    public var format: TraceFormat
    /// Only this column (CSV formats); nil for every value column.
    public var column: String?
    /// Step of a row when the file does not say (5 minutes in every trace here but Alibaba's 10-second day).
    public var stepSeconds: Double

    public init(format: TraceFormat, column: String? = nil, stepSeconds: Double = 300) {
        self.format = format
        self.column = column
        self.stepSeconds = stepSeconds
    }

    /// Reads a file, or every regular file of a directory (sorted by name), into series.
    public func read(path: String) throws(TraceError) -> [UsageSeries] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .unreadable(path: path, reason: "no such file or directory")
        }
        guard isDirectory.boolValue else { return try readFile(path: path) }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        var series: [UsageSeries] = []
        for name in names where !name.hasPrefix(".") {
            series += try readFile(path: (path as NSString).appendingPathComponent(name))
        }
        guard !series.isEmpty else { throw .empty(path: path) }
        return series
    }

    public func readFile(path: String) throws(TraceError) -> [UsageSeries] {
        let text = try Self.text(path: path)
        // Split on any line ending ("\r\n" is one Character in Swift, so splitting on "\n" would miss it).
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        guard lines.contains(where: { !$0.allSatisfy(\.isWhitespace) }) else { throw .empty(path: path) }
        switch format {
        case .planetlab: return [try parsePlanetLab(path: path, lines: lines)]
        case .azureCSV, .alibabaCSV, .csv: return try parseCSV(path: path, lines: lines)
        }
    }

    /// The file's text; a `.gz` file is decompressed by `gzip -dc` (Foundation on Linux has no gzip).
    static func text(path: String) throws(TraceError) -> String {
        let data: Data
        if path.hasSuffix(".gz") {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "exec gzip -dc -- \"$0\"", path]
            let output = Pipe()
            let errors = Pipe()
            process.standardOutput = output
            process.standardError = errors
            do { try process.run() } catch { throw .unreadable(path: path, reason: "cannot run gzip: \(error)") }
            let decompressed = output.fileHandleForReading.readDataToEndOfFile()
            let message = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                let reason = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                throw .unreadable(path: path, reason: "gzip -dc failed: \(reason)")
            }
            data = decompressed
        } else {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw .unreadable(path: path, reason: "permission denied or not a regular file")
            }
            data = contents
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// A value field: empty means a missing step (NaN); otherwise it must parse as a number (nan and inf parse,
    /// and the methods and scorer treat them as missing).
    static func value(_ field: Substring) -> Double? {
        let trimmed = field.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return .nan }
        return Double(trimmed)
    }

    func parsePlanetLab(path: String, lines: [Substring]) throws(TraceError) -> UsageSeries {
        var values: [Double] = []
        // A trailing newline leaves one empty last line; an empty line elsewhere is a missing step.
        let last = lines.lastIndex(where: { !$0.allSatisfy(\.isWhitespace) }) ?? 0
        for (index, line) in lines[...last].enumerated() {
            guard let value = Self.value(line) else {
                throw .malformedRow(path: path, line: index + 1, reason: "'\(line)' is not a number")
            }
            values.append(value)
        }
        let name = (path as NSString).lastPathComponent
        return UsageSeries(name: name, values: values, stepSeconds: stepSeconds)
    }

    func parseCSV(path: String, lines: [Substring]) throws(TraceError) -> [UsageSeries] {
        let header = lines[0].split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        let timeColumn = header.firstIndex { ["timestamp", "time", "step"].contains($0.lowercased()) }
        let timeIsStep = timeColumn.map { header[$0].lowercased() == "step" } ?? true
        var valueColumns = header.indices.filter { $0 != timeColumn }
        if let column {
            guard let index = header.firstIndex(of: column), index != timeColumn else {
                throw .unknownColumn(path: path, column: column, available: valueColumns.map { header[$0] })
            }
            valueColumns = [index]
        }
        var columns = [[Double]](repeating: [], count: valueColumns.count)
        var times: [Double] = []
        let last = lines.lastIndex(where: { !$0.allSatisfy(\.isWhitespace) }) ?? 0
        guard last >= 1 else { throw .empty(path: path) }
        for lineIndex in 1...last {
            let line = lines[lineIndex]
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == header.count else {
                throw .malformedRow(path: path, line: lineIndex + 1,
                                    reason: "expected \(header.count) fields, found \(fields.count)")
            }
            if let timeColumn {
                guard let time = Self.value(fields[timeColumn]), time.isFinite else {
                    throw .malformedRow(path: path, line: lineIndex + 1,
                                        reason: "\(header[timeColumn]) '\(fields[timeColumn])' is not a number")
                }
                times.append(timeIsStep ? time * stepSeconds : time)
            } else {
                times.append(Double(lineIndex - 1) * stepSeconds)
            }
            for (slot, column) in valueColumns.enumerated() {
                guard let value = Self.value(fields[column]) else {
                    throw .malformedRow(path: path, line: lineIndex + 1,
                                        reason: "\(header[column]) '\(fields[column])' is not a number")
                }
                columns[slot].append(value)
            }
        }
        return try valueColumns.indices.map { (slot) throws(TraceError) -> UsageSeries in
            try Self.series(name: header[valueColumns[slot]], times: times, values: columns[slot],
                            stepSeconds: stepSeconds, path: path)
        }
    }

    /// Places values on the step grid their times give: a step absent from the file becomes a missing value.
    static func series(name: String, times: [Double], values: [Double], stepSeconds: Double,
                       path: String) throws(TraceError) -> UsageSeries {
        guard let start = times.first, let end = times.last else { throw .empty(path: path) }
        let count = Int(((end - start) / stepSeconds).rounded()) + 1
        var grid = [Double](repeating: .nan, count: max(count, 0))
        var previous = -Double.infinity
        for (row, time) in times.enumerated() {
            guard time > previous else {
                throw .malformedRow(path: path, line: row + 2, reason: "time \(time) does not increase")
            }
            previous = time
            grid[Int(((time - start) / stepSeconds).rounded())] = values[row]
        }
        return UsageSeries(name: name, values: grid, stepSeconds: stepSeconds, startSeconds: start)
    }
}
