import Synchronization

/// The service's counters and request-latency histograms, rendered as Prometheus text at `/metrics`.
public final class CentralMetrics: Sendable {
    /// Latency histogram bucket bounds, in seconds.
    static let latencyBoundsSeconds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

    private struct Histogram {
        var bucketCounts = [Int](repeating: 0, count: CentralMetrics.latencyBoundsSeconds.count)
        var count = 0
        var sumSeconds = 0.0
    }

    private struct State {
        var counters: [String: Double] = [:]
        var gauges: [String: Double] = [:]
        var latencies: [String: Histogram] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Adds to a counter; `name` may carry labels, e.g. `dpm_central_uploads_total{outcome="stored"}`.
    public func increment(_ name: String, by amount: Double = 1) {
        state.withLock { $0.counters[name, default: 0] += amount }
    }

    public func set(_ name: String, _ value: Double) {
        state.withLock { $0.gauges[name] = value }
    }

    public func counter(_ name: String) -> Double {
        state.withLock { $0.counters[name] ?? 0 }
    }

    public func observeLatency(route: String, status: Int, seconds: Double) {
        let key = "route=\"\(route)\",status=\"\(status)\""
        state.withLock { state in
            var histogram = state.latencies[key] ?? Histogram()
            for (index, bound) in Self.latencyBoundsSeconds.enumerated() where seconds <= bound { histogram.bucketCounts[index] += 1 }
            histogram.count += 1
            histogram.sumSeconds += seconds
            state.latencies[key] = histogram
        }
    }

    /// Prometheus text exposition format 0.0.4.
    public func render() -> String {
        let snapshot = state.withLock { $0 }
        var lines = [String]()
        func family(_ name: String) -> String { String(name.prefix { $0 != "{" }) }
        var typed = Set<String>()
        for (name, value) in snapshot.counters.sorted(by: { $0.key < $1.key }) {
            if typed.insert(family(name)).inserted { lines.append("# TYPE \(family(name)) counter") }
            lines.append("\(name) \(Self.format(value))")
        }
        for (name, value) in snapshot.gauges.sorted(by: { $0.key < $1.key }) {
            if typed.insert(family(name)).inserted { lines.append("# TYPE \(family(name)) gauge") }
            lines.append("\(name) \(Self.format(value))")
        }
        let histogram = "dpm_central_request_duration_seconds"
        if !snapshot.latencies.isEmpty { lines.append("# TYPE \(histogram) histogram") }
        for (labels, value) in snapshot.latencies.sorted(by: { $0.key < $1.key }) {
            for (index, bound) in Self.latencyBoundsSeconds.enumerated() {
                lines.append("\(histogram)_bucket{\(labels),le=\"\(bound)\"} \(value.bucketCounts[index])")
            }
            lines.append("\(histogram)_bucket{\(labels),le=\"+Inf\"} \(value.count)")
            lines.append("\(histogram)_sum{\(labels)} \(Self.format(value.sumSeconds))")
            lines.append("\(histogram)_count{\(labels)} \(value.count)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Whole numbers without a fraction (counters read `3`, not `3.0`).
    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
