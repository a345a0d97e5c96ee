/// Why the agent could not start or serve, with what a person needs to act.
public enum AgentError: Error, Equatable, Sendable, CustomStringConvertible {
    case config(ConfigError)
    case system(call: String, errno: Int32)
    case socket(path: String, call: String, errno: Int32)
    case notRoot(operation: String)
    case tooManyTenants(count: Int, capacity: Int)
    case notRunning(socketPath: String, reason: String)
    case protocolError(String)
    case unavailable(module: String, reason: String)

    public var description: String {
        switch self {
        case let .config(error): "\(error)"
        case let .system(call, errno): "\(call) failed: \(Self.text(errno)) (errno \(errno))"
        case let .socket(path, call, errno): "\(path): \(call) failed: \(Self.text(errno)) (errno \(errno))"
        case let .notRoot(operation): "\(operation) needs root"
        case let .tooManyTenants(count, capacity): "\(count) tenants exceed the agent's \(capacity) slots"
        case let .notRunning(path, reason): "no agent answers on \(path) (\(reason)); is `dpm run` running?"
        case let .protocolError(reason): "control protocol: \(reason)"
        case let .unavailable(module, reason): "\(module) is not available: \(reason)"
        }
    }

    static func text(_ errno: Int32) -> String {
        guard let message = strerror(errno) else { return "unknown error" }
        return String(cString: message)
    }
}

#if canImport(Glibc)
import Glibc
#endif
