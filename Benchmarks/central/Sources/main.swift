import Foundation

/// `central-bench value [--traces DIR]` and `central-bench ingest --db URL [--hosts N] [--tenants N] [--minutes N]`.
/// Prints what it measured, on what, how many runs; never passes or fails.
let arguments = Array(CommandLine.arguments.dropFirst())

func option(_ name: String, _ fallback: String) -> String {
    guard let index = arguments.firstIndex(of: "--" + name), index + 1 < arguments.count else { return fallback }
    return arguments[index + 1]
}

do {
    switch arguments.first {
    case "value":
        try await ValueBenchmark(tracesDirectory: option("traces", "/work/shared/data/traces")).run()
    case "ingest":
        try await IngestBenchmark(
            database: option("db", "sqlite:/tmp/dpm-central-ingest.sqlite"),
            hosts: Int(option("hosts", "1000"))!, tenants: Int(option("tenants", "64"))!,
            minutes: Int(option("minutes", "2"))!, concurrency: Int(option("concurrency", "16"))!
        ).run()
    default:
        print("usage: central-bench value [--traces DIR] | ingest --db sqlite:PATH|postgres://… [--hosts 1000] [--tenants 64] [--minutes 2] [--concurrency 16]")
    }
} catch {
    print("central-bench: \(error)")
    exit(1)
}
