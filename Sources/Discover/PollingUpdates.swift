/// Follows a source that has no change feed by looking again every interval.
///
/// Sends `.snapshot` when what it finds changed, `.unavailable` when a look fails (once per failure spell).
enum PollingUpdates {
    static func stream(of source: some TenantSource, intervalSeconds: Double) -> AsyncStream<SourceUpdate> {
        AsyncStream { continuation in
            let task = Task {
                var last: SourceScan?
                var failing = false
                while !Task.isCancelled {
                    do throws(DiscoveryError) {
                        let scan = try await source.scan()
                        if scan != last || failing { continuation.yield(.snapshot(scan)) }
                        last = scan
                        failing = false
                    } catch {
                        if !failing { continuation.yield(.unavailable(error)) }
                        failing = true
                        last = nil
                    }
                    try? await Task.sleep(for: .seconds(intervalSeconds))
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
