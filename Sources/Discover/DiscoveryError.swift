#if canImport(Glibc)
import Glibc
#endif

/// Why a source could not look, with what a person needs to fix it: the socket or file, the operation, errno, the
/// endpoint and what it answered.
public enum DiscoveryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A unix socket could not be opened, written or read (engine not running, wrong path, no permission).
    case socket(path: String, operation: String, errno: Int32)
    /// A file or directory could not be read (a process that exited, a cgroup that vanished).
    case file(path: String, operation: String, errno: Int32)
    /// An HTTP endpoint answered with an error status.
    case http(endpoint: String, path: String, status: Int, body: String)
    /// An answer that is not what the protocol promises.
    case malformedResponse(endpoint: String, path: String, reason: String)
    /// A configuration file that cannot be used; `location` is "file:line" when known.
    case config(location: String, field: String, reason: String)

    public var description: String {
        switch self {
        case let .socket(path, operation, code):
            "\(path): \(operation) failed: \(String(cString: strerror(code))) (errno \(code))"
        case let .file(path, operation, code):
            "\(path): \(operation) failed: \(String(cString: strerror(code))) (errno \(code))"
        case let .http(endpoint, path, status, body):
            "\(endpoint) \(path): HTTP \(status): \(body.prefix(200))"
        case let .malformedResponse(endpoint, path, reason):
            "\(endpoint) \(path): unexpected answer: \(reason)"
        case let .config(location, field, reason):
            "\(location): \(field): \(reason)"
        }
    }

    /// True when the thing looked at is simply gone (a process or cgroup that vanished, a container removed meanwhile):
    /// the tenant is skipped or retired rather than reported as a failure.
    public var isGone: Bool {
        switch self {
        case let .file(_, _, code): code == ENOENT || code == ESRCH
        case let .http(_, _, status, _): status == 404
        default: false
        }
    }
}
