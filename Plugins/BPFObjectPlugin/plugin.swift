import Foundation
import PackagePlugin

/// Compiles every `bpf/*.bpf.c` during `swift build` and embeds the stripped object in the target as a hex
/// `StaticString` (`EmbeddedBPFObject.<name>`), so the `dpm` binary carries its BPF programs and needs no object
/// files at run time. The chain (clang `-target bpf` → `bpftool gen object` → hex) lives in `Plugins/embed-bpf.sh`.
@main
struct BPFObjectPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let package = context.package.directoryURL
        let bpfDirectory = package.appending(path: "bpf")
        let script = package.appending(path: "Plugins/embed-bpf.sh")
        let vmlinuxDirectory = bpfDirectory.appending(path: "vmlinux/\(Self.architecture)")
        let files = try FileManager.default.subpathsOfDirectory(atPath: bpfDirectory.path)
            .sorted()
            .map { bpfDirectory.appending(path: $0) }
        let headers = files.filter { $0.pathExtension == "h" }
        let clang = try context.tool(named: "clang").url
        return files.filter { $0.lastPathComponent.hasSuffix(".bpf.c") }.map { source in
            let base = String(source.lastPathComponent.dropLast(".bpf.c".count))
            let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedBPFObject+\(base).swift")
            return .buildCommand(
                displayName: "Compiling BPF program bpf/\(source.lastPathComponent)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [
                    script.path, clang.path, source.path, bpfDirectory.path, vmlinuxDirectory.path,
                    Self.swiftIdentifier(base), output.path,
                    context.pluginWorkDirectoryURL.appending(path: "objects").path,
                ],
                inputFiles: [source, script] + headers,
                outputFiles: [output]
            )
        }
    }

    /// `tc_classifier` → `tcClassifier`: the name of the generated static property.
    static func swiftIdentifier(_ base: String) -> String {
        let words = base.split(whereSeparator: { $0 == "_" || $0 == "-" || $0 == "." })
        guard let first = words.first else { return base }
        return first.lowercased() + words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    #if arch(x86_64)
    static let architecture = "x86_64"
    #elseif arch(arm64)
    static let architecture = "aarch64"
    #endif
}
