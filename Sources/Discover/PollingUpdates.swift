import Foundation

/// Follows a source by looking again: every interval, or, when the source names directories to watch, every time
/// the kernel reports a change there (inotify) and every interval as the fallback for what no event shows.
///
/// Sends `.snapshot` when what it finds changed, `.unavailable` when a look fails (once per failure spell). Changes
/// that arrive while a look runs are folded into one more look.
enum PollingUpdates {
    /// Directories to watch and which of their entries count; asked again after every wake-up, so a directory that
    /// appears later (a QoS cgroup created with its first pod) is watched from then on.
    typealias WatchedDirectories = @Sendable () -> [(directory: String, entries: KernelWatch.Entries)]

    static func stream(of source: some TenantSource, intervalSeconds: Double, watching: WatchedDirectories? = nil) -> AsyncStream<SourceUpdate> {
        AsyncStream { continuation in
            let (looks, look) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            var watch: KernelWatch?
            if watching != nil {
                do throws(DiscoveryError) {
                    watch = try KernelWatch()
                } catch {
                    continuation.yield(.warning(DiscoveryWarning(
                        source: source.id, message: "cannot watch for changes (\(error)); looking every \(intervalSeconds) s only"
                    )))
                }
            }
            let waker: Task<Void, Never>?
            if let watch, let watching {
                waker = nil
                let thread = Thread {
                    while true {
                        // Watch first, then look: whatever changes after the look has an event.
                        for (directory, entries) in watching() { watch.add(directory, entries: entries) }
                        look.yield()
                        if watch.wait(timeoutSeconds: intervalSeconds) == .stopped { break }
                    }
                    look.finish()
                }
                thread.name = "dpm-discover-watch"
                thread.start()
            } else {
                waker = Task {
                    while !Task.isCancelled {
                        look.yield()
                        try? await Task.sleep(for: .seconds(intervalSeconds))
                    }
                    look.finish()
                }
            }
            let task = Task {
                var last: SourceScan?
                var failing = false
                for await _ in looks {
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
                }
                continuation.finish()
            }
            continuation.onTermination = { [watch] _ in
                task.cancel()
                waker?.cancel()
                watch?.stop()
            }
        }
    }
}
