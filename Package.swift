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
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
    ],
    targets: [
        // Resource-pool vocabulary: pure values shared by every module.
        .target(name: "Pool", swiftSettings: strict),

        // libbpf, libelf and zlib as a Swift module (Debian: libbpf-dev, libelf-dev, zlib1g-dev).
        .systemLibrary(name: "CLibBPF", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev", "libelf-dev", "zlib1g-dev"])]),

        // Thin C layer for the agent's thread and socket calls that Swift cannot import (timer slack, affinity,
        // SCHED_FIFO with reset-on-fork, SO_PEERCRED).
        .target(name: "CLoopSystem"),

        // The agent: configuration, tick thread, tenant table, snapshot, control socket, metrics, lifecycle.
        .target(
            name: "CLoop",
            dependencies: [
                "Pool", "CLoopSystem",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: strict
        ),

        // Command-line face: argument parsing, nothing else.
        .executableTarget(
            name: "dpm",
            dependencies: [
                "Pool", "CLoop",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        .testTarget(name: "PoolTests", dependencies: ["Pool"], swiftSettings: strict),
        .testTarget(name: "CLoopTests", dependencies: ["CLoop", "Pool"], swiftSettings: strict),
        // Real-kernel tests (root): cgroups, BPF, tc. Each module's files carry its prefix.
        .testTarget(name: "KernelTests", dependencies: ["CLoop", "Pool"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
