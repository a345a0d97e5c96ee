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
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // Resource-pool vocabulary: pure values shared by every module.
        .target(name: "Pool", swiftSettings: strict),

        // libbpf, libelf and zlib as a Swift module (Debian: libbpf-dev, libelf-dev, zlib1g-dev).
        .systemLibrary(name: "CLibBPF", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev", "libelf-dev", "zlib1g-dev"])]),

        // Tenant sources (Docker, Kubernetes, microVMs, static) behind one protocol; produces Pool tenant specs.
        .target(name: "Discover", dependencies: ["Pool"], swiftSettings: strict),

        // Command-line face: argument parsing, nothing else.
        .executableTarget(
            name: "dpm",
            dependencies: [
                "Pool",
                "Discover",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),

        // Discovery benchmark: containers started and stopped in a row (Benchmarks/discover/run.sh).
        .executableTarget(name: "discover-benchmark", dependencies: ["Discover"], path: "Benchmarks/discover", exclude: ["run.sh", "results-2026-11-29.txt"], swiftSettings: strict),

        .testTarget(name: "PoolTests", dependencies: ["Pool"], swiftSettings: strict),
        .testTarget(name: "DiscoverTests", dependencies: ["Discover", "Pool"], swiftSettings: strict),
        // Real-kernel tests (root): cgroups, containers, VMs. Shared by every module's kernel tests.
        .testTarget(name: "KernelTests", dependencies: ["Discover", "Pool"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
