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
    ],
    targets: [
        // Resource-pool vocabulary: pure values shared by every module.
        .target(name: "Pool", swiftSettings: strict),

        // libbpf, libelf and zlib as a Swift module (Debian: libbpf-dev, libelf-dev, zlib1g-dev).
        .systemLibrary(name: "CLibBPF", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev", "libelf-dev", "zlib1g-dev"])]),

        // libbpf's Swift face: embedded objects (compiled from bpf/ by BPFObjectPlugin), load, attach, maps,
        // ring-buffer consumers, pins, and the telemetry probe set. Knows nothing of tenants or policy.
        .target(name: "BPFLoader", dependencies: ["CLibBPF"], swiftSettings: strict, plugins: ["BPFObjectPlugin"]),
        .plugin(name: "BPFObjectPlugin", capability: .buildTool()),

        // Command-line face: argument parsing, nothing else.
        .executableTarget(
            name: "dpm",
            dependencies: [
                "Pool",
                "BPFLoader",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        .testTarget(name: "PoolTests", dependencies: ["Pool"], swiftSettings: strict),
        .testTarget(name: "BPFLoaderTests", dependencies: ["BPFLoader"], swiftSettings: strict),
        // Real-kernel tests (root, BPF, cgroups, tc, containers); shared by every module, files prefixed by module.
        .testTarget(name: "KernelTests", dependencies: ["BPFLoader", "dpm", "TelemetryLoad"], swiftSettings: strict),
        // Load generator for the telemetry kernel tests and benchmarks (joins a cgroup, then faults/sends/spins).
        .executableTarget(name: "TelemetryLoad", swiftSettings: strict),
        // Consumer benchmarks of the telemetry probes (drain cost, event rate without drops); see Benchmarks/telemetry.
        .executableTarget(
            name: "TelemetryBenchmark",
            dependencies: ["BPFLoader", "TelemetryLoad"],
            path: "Benchmarks/telemetry/TelemetryBenchmark",
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
