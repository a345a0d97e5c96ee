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

        // libnuma, CPU-affinity wrappers and the netlink/tc message layouts for Enforce (Debian: libnuma-dev).
        .systemLibrary(name: "CEnforce", pkgConfig: "numa", providers: [.apt(["libnuma-dev"])]),

        // The only module that writes kernel control files: cgroups v1/v2, thread affinity, NUMA, tc over netlink.
        .target(
            name: "Enforce",
            dependencies: ["Pool", "CEnforce", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),

        // Command-line face: argument parsing, nothing else.
        .executableTarget(
            name: "dpm",
            dependencies: [
                "Pool",
                "Enforce",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        .testTarget(name: "PoolTests", dependencies: ["Pool"], swiftSettings: strict),
        // Enforce benchmark: write latency per kind, apply of diffs (root; `swift run -c release EnforceBenchmark`).
        .executableTarget(name: "EnforceBenchmark", dependencies: ["Enforce", "Pool"], path: "Benchmarks/enforce", swiftSettings: strict),

        .testTarget(name: "EnforceTests", dependencies: ["Enforce", "Pool"], swiftSettings: strict),
        // Real-kernel tests (root): cgroups, tc, BPF. Shared by every module; files carry the module's prefix.
        .testTarget(name: "KernelTests", dependencies: ["Enforce", "Pool", "dpm"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
