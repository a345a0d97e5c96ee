// swift-tools-version: 6.0
import PackageDescription

/// Strict settings for every target: Swift 6 language mode (full concurrency checking) and explicit `any`.
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "dpm",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dpm", targets: ["dpm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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

        // Command-line face: argument parsing, nothing else.
        .executableTarget(
            name: "dpm",
            dependencies: [
                "Pool",
                "Predict",
                "Replay",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        // Benchmarks (not run as tests): cost per forecaster update and heap allocations in steady state.
        .target(name: "CMallocCounter", path: "Benchmarks/predict/CMallocCounter"),
        .executableTarget(
            name: "PredictBenchmark",
            dependencies: ["Predict", "Replay", "CMallocCounter"],
            path: "Benchmarks/predict/PredictBenchmark",
            swiftSettings: strict
        ),

        .testTarget(name: "PoolTests", dependencies: ["Pool"], swiftSettings: strict),
        .testTarget(name: "PredictTests", dependencies: ["Predict", "Replay"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
