import CLibBPF
import Glibc

/// A directory on bpffs where maps, programs and links are pinned (`/sys/fs/bpf/dpm/` for the agent).
///
/// Pins left by a run that crashed are replaced: `prepare()` removes whatever the directory holds.
public struct PinDirectory: Sendable {
    public static let bpffsRoot = "/sys/fs/bpf"
    static let bpffsMagic = 0xcafe_4a11
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// The path of a pin named `name` in this directory.
    public func pinPath(_ name: String) -> String {
        "\(path)/\(name)"
    }

    /// Mounts bpffs when it is missing, then creates the directory empty.
    public func prepare() throws {
        try Self.mountBPFFSIfNeeded()
        remove()
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw BPFError.pinFailed(path: path, errno: errno) }
    }

    /// Removes every pin in the directory and the directory itself; a missing directory is fine.
    public func remove() {
        guard let directory = opendir(path) else { return }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { unlink(pinPath(name)) }
        }
        closedir(directory)
        rmdir(path)
    }

    static func mountBPFFSIfNeeded() throws {
        var info = statfs()
        if statfs(bpffsRoot, &info) == 0 && info.f_type == bpffsMagic { return }
        if mount("bpf", bpffsRoot, "bpf", 0, nil) != 0 && errno != EBUSY {
            throw BPFError.bpffsUnavailable(path: bpffsRoot, errno: errno)
        }
    }
}
