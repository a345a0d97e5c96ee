// swift-tools-version: 6.0
import PackageDescription

/// Strict settings for every target: Swift 6 language mode (full concurrency checking) and explicit `any`.
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "dpm",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dpm", targets: ["dpm"]),
        .library(name: "BPFLoader", targets: ["BPFLoader"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        // Central service: HTTP server, SQLite and PostgreSQL stores, token hashing.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // Resource-pool vocabulary: pure values shared by every module.
        .target(name: "Pool", swiftSettings: strict),

        // Streaming per-tenant forecasts and the baselines they are measured against: pure, no I/O, no clocks.
        .target(name: "Predict", dependencies: ["Pool"], swiftSettings: strict),

        // Trace reading and replay scoring for `dpm replay` (file I/O lives here, not in Predict).
        .target(name: "Replay", dependencies: ["Predict"], swiftSettings: strict),

        // libbpf, libelf and zlib as a Swift module (Debian: libbpf-dev, libelf-dev, zlib1g-dev).
        .systemLibrary(name: "CLibBPF", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev", "libelf-dev", "zlib1g-dev"])]),

        // libbpf's Swift face: embedded objects (compiled from bpf/ by BPFObjectPlugin), load, attach, maps,
        // ring-buffer consumers, pins, and the telemetry probe set. Knows nothing of tenants or policy.
        .target(name: "BPFLoader", dependencies: ["CLibBPF"], swiftSettings: strict, plugins: ["BPFObjectPlugin"]),
        .plugin(name: "BPFObjectPlugin", capability: .buildTool()),
        // Allocation: cost model, greedy whole-core placement and a warm-started bounded-variable simplex. Pure.
        .target(name: "Solve", dependencies: ["Pool"], swiftSettings: strict),
        // libnuma, CPU-affinity wrappers and the netlink/tc message layouts for Enforce (Debian: libnuma-dev).
        .systemLibrary(name: "CEnforce", pkgConfig: "numa", providers: [.apt(["libnuma-dev"])]),

        // The only module that writes kernel control files: cgroups v1/v2, thread affinity, NUMA, tc over netlink.
        .target(
            name: "Enforce",
            dependencies: ["Pool", "CEnforce", "BPFLoader", "CLibBPF", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        // Tenant sources (Docker, Kubernetes, microVMs, static) behind one protocol; produces Pool tenant specs.
        .target(name: "Discover", dependencies: ["Pool"], swiftSettings: strict),

        // Thin C layer for the agent's thread and socket calls that Swift cannot import (timer slack, affinity,
        // SCHED_FIFO with reset-on-fork, SO_PEERCRED).
        .target(name: "CLoopSystem"),

        // The agent: configuration, tick thread, tenant table, snapshot, control socket, metrics, lifecycle.
        // The only module that imports its siblings.
        .target(
            name: "CLoop",
            dependencies: [
                "Pool", "CLoopSystem", "BPFLoader", "Predict", "Solve", "Enforce", "Discover", "CentralSync",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: strict
        ),

        // Command-line face: argument parsing, nothing else.
        .executableTarget(
            name: "dpm",
            dependencies: [
                "Pool",
                "CLoop",
                "BPFLoader",
                "Predict",
                "Replay",
                "Solve",
                "Enforce",
                "Central",
                "CentralSync",
                "Discover",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),

        // Benchmarks (not run as tests): cost per forecaster update and heap allocations in steady state.
        .target(name: "CMallocCounter", path: "Benchmarks/predict/CMallocCounter"),
        .executableTarget(
            name: "PredictBenchmark",
            dependencies: ["Pool", "Predict", "Replay", "CMallocCounter"],
            path: "Benchmarks/predict/PredictBenchmark",
            swiftSettings: strict
        ),
        // Knob scan of dpm and the baselines on the PlanetLab and Azure V1 traces (slack at 1% and 5% shortfall).
        .executableTarget(
            name: "predict-knob-scan",
            dependencies: ["Predict", "Replay"],
            path: "Benchmarks/predict/KnobScan",
            swiftSettings: strict
        ),
        // Value of central priors for Predict: new and strongly seasonal tenants, blended vs edge-only (issue 8).
        .executableTarget(
            name: "predict-prior-value",
            dependencies: ["Predict", "Replay", "CentralLearning", "Pool"],
            path: "Benchmarks/predict/PriorValue",
            swiftSettings: strict
        ),

        // Solve benchmark: the whole Solve step (greedy + LP + read-back) per tick and its heap allocations.
        .executableTarget(
            name: "SolveBenchmark",
            dependencies: ["Solve", "Pool", "CMallocCounter"],
            path: "Benchmarks/solve/SolveBenchmark",
            swiftSettings: strict
        ),

        // Edge side of the central sync: wire types and a buffering upload/prior client. Foundation only, so the
        // agent carries no server dependencies.
        .target(name: "CentralSync", dependencies: ["Pool"], swiftSettings: strict),

        // How the central service learns priors (seasonal decomposition, shape clustering): pure values on Pool, so
        // benchmarks and the edge can use it without the server's dependencies.
        .target(name: "CentralLearning", dependencies: ["Pool", "Predict"], swiftSettings: strict),

        // The central forecasting service: HTTP API, storage (SQLite or PostgreSQL), learning of priors.
        .target(
            name: "Central",
            dependencies: [
                "Pool",
                "CentralSync",
                "CentralLearning",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["openapi.yaml"],
            swiftSettings: strict
        ),

        // Central benchmarks: value of priors on real traces, ingest throughput (run by Benchmarks/central/*.sh).
        .executableTarget(
            name: "central-bench",
            dependencies: ["Central", "CentralSync", "Pool"],
            path: "Benchmarks/central/Sources",
            swiftSettings: strict
        ),

        .testTarget(name: "PoolTests", dependencies: ["Pool"], swiftSettings: strict),
        .testTarget(name: "CLoopTests", dependencies: ["CLoop", "CentralSync", "Enforce", "Pool", "Solve"], swiftSettings: strict),
        .testTarget(name: "BPFLoaderTests", dependencies: ["BPFLoader"], swiftSettings: strict),
        // Real-kernel tests (root, BPF, cgroups, tc, containers); shared by every module, files prefixed by module.
        .testTarget(name: "KernelTests", dependencies: ["BPFLoader", "CLoop", "Discover", "Enforce", "Pool", "dpm", "TelemetryLoad", "Central", "CentralSync"], swiftSettings: strict),
        // Load generator for the telemetry kernel tests and benchmarks (joins a cgroup, then faults/sends/spins).
        .executableTarget(name: "TelemetryLoad", swiftSettings: strict),
        .testTarget(name: "PredictTests", dependencies: ["Predict", "Replay"], swiftSettings: strict),
        .testTarget(name: "SolveTests", dependencies: ["Solve", "Pool"], swiftSettings: strict),
        // Enforce benchmark: write latency per kind, apply of diffs (root; `swift run -c release EnforceBenchmark`).
        .executableTarget(name: "EnforceBenchmark", dependencies: ["Enforce", "Pool", "CMallocCounter"], path: "Benchmarks/enforce", exclude: ["results-2026-11-30.txt"], swiftSettings: strict),

        // What central's priors cost the tick (heap allocations and tick work with and without; see its header).
        .executableTarget(
            name: "TickPriorBenchmark", dependencies: ["CLoop", "CMallocCounter", "Pool"], path: "Benchmarks/agent/TickPriorBenchmark",
            swiftSettings: strict
        ),

        .testTarget(name: "EnforceTests", dependencies: ["Enforce", "Pool"], swiftSettings: strict),
        .testTarget(
            name: "CentralTests",
            dependencies: [
                "Central", "CentralLearning", "CentralSync", "Pool", .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strict
        ),
        // Discovery benchmark: containers started and stopped in a row (Benchmarks/discover/run.sh).
        .executableTarget(name: "discover-benchmark", dependencies: ["Discover"], path: "Benchmarks/discover", exclude: ["run.sh", "results-2026-11-29.txt", "results-2026-11-30-agent.txt", "results-2026-11-30-memory.txt"], swiftSettings: strict),

        .testTarget(name: "DiscoverTests", dependencies: ["Discover", "Pool"], swiftSettings: strict),
        // Consumer benchmarks of the telemetry probes (drain cost, event rate without drops); see Benchmarks/telemetry.
        .executableTarget(
            name: "TelemetryBenchmark",
            dependencies: ["BPFLoader", "TelemetryLoad", "CMallocCounter"],
            path: "Benchmarks/telemetry/TelemetryBenchmark",
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
