import CentralSync
import Foundation
import Pool

/// A request the service refuses, with the field at fault and why, so the edge operator can fix it.
public struct ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// Limits every request is held to.
public struct ValidationLimits: Sendable {
    /// Largest request body accepted, in bytes (a 64-tenant, 3-resource minute is about 45 KB).
    public var maxBodyBytes: Int = 4 << 20
    public var maxSummariesPerUpload: Int = 20_000
    public var maxTenantsPerPriorRequest: Int = 10_000
    /// How far past the service's clock an interval may end, for clock skew between hosts.
    public var maxFutureSkewSeconds: Int64 = 300
    /// Intervals starting before this are refused as nonsense (2000-01-01).
    public var earliestStartSeconds: Int64 = 946_684_800
    public var maxIntervalSeconds: Int = 86_400
    public var maxNameLength: Int = 253

    public init() {}
}

/// Checks identifiers and decoded payloads beyond what JSON decoding checks: names, finiteness, signs, ordering
/// of percentiles, timestamps.
public struct RequestValidator: Sendable {
    public var limits: ValidationLimits

    public init(limits: ValidationLimits = ValidationLimits()) { self.limits = limits }

    /// A host id: 1…253 characters of letters, digits, `.`, `_`, `-`.
    public func validateHostID(_ host: String) throws(ValidationError) {
        guard !host.isEmpty, host.count <= limits.maxNameLength,
              host.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._-".unicodeScalars.contains($0) })
        else {
            throw ValidationError(field: "host", reason: "\"\(host.prefix(80))\" is not 1-\(limits.maxNameLength) ASCII letters, digits, '.', '_' or '-'")
        }
    }

    public func validateSequence(_ text: String) throws(ValidationError) -> Int64 {
        guard let sequence = Int64(text), sequence >= 0 else {
            throw ValidationError(field: "sequence", reason: "\"\(text.prefix(40))\" is not a non-negative integer")
        }
        return sequence
    }

    public func validate(_ body: UploadBody, nowSeconds: Int64) throws(ValidationError) {
        guard !body.summaries.isEmpty else { throw ValidationError(field: "summaries", reason: "is empty") }
        guard body.summaries.count <= limits.maxSummariesPerUpload else {
            throw ValidationError(field: "summaries", reason: "\(body.summaries.count) entries exceed the limit of \(limits.maxSummariesPerUpload)")
        }
        var seen = Set<SummaryKey>()
        for (index, summary) in body.summaries.enumerated() {
            let at = "summaries[\(index)]"
            try validateNames(tenant: summary.tenant, workload: summary.workload, at: at)
            guard (1...limits.maxIntervalSeconds).contains(summary.intervalSeconds) else {
                throw ValidationError(field: "\(at).intervalSeconds", reason: "\(summary.intervalSeconds) is outside 1-\(limits.maxIntervalSeconds)")
            }
            guard summary.startSeconds >= limits.earliestStartSeconds else {
                throw ValidationError(field: "\(at).startSeconds", reason: "\(summary.startSeconds) is before 2000-01-01")
            }
            let endSeconds = summary.startSeconds + Int64(summary.intervalSeconds)
            guard endSeconds <= nowSeconds + limits.maxFutureSkewSeconds else {
                throw ValidationError(field: "\(at).startSeconds", reason: "interval ends at \(endSeconds), \(endSeconds - nowSeconds) s in the future")
            }
            for (name, value) in [("mean", summary.mean), ("p50", summary.p50), ("p95", summary.p95), ("max", summary.max)] {
                guard value.isFinite else { throw ValidationError(field: "\(at).\(name)", reason: "\(value) is not a finite number") }
                guard value >= 0 else { throw ValidationError(field: "\(at).\(name)", reason: "\(value) is negative") }
            }
            let tolerance = 1e-9 * Swift.max(1, summary.max)
            guard summary.p50 <= summary.p95 + tolerance, summary.p95 <= summary.max + tolerance,
                  summary.mean <= summary.max + tolerance else {
                throw ValidationError(field: at, reason: "needs p50 <= p95 <= max and mean <= max (got p50 \(summary.p50), p95 \(summary.p95), max \(summary.max), mean \(summary.mean))")
            }
            guard seen.insert(SummaryKey(tenant: summary.tenant, resource: summary.resource, startSeconds: summary.startSeconds)).inserted else {
                throw ValidationError(field: at, reason: "repeats tenant \(summary.tenant), \(summary.resource), start \(summary.startSeconds)")
            }
        }
    }

    public func validate(_ request: PriorsRequest) throws(ValidationError) {
        guard request.tenants.count <= limits.maxTenantsPerPriorRequest else {
            throw ValidationError(field: "tenants", reason: "\(request.tenants.count) entries exceed the limit of \(limits.maxTenantsPerPriorRequest)")
        }
        for (index, tenant) in request.tenants.enumerated() {
            try validateNames(tenant: tenant.tenant, workload: tenant.workload, at: "tenants[\(index)]")
        }
    }

    private func validateNames(tenant: String, workload: String, at: String) throws(ValidationError) {
        guard !tenant.isEmpty, tenant.utf8.count <= limits.maxNameLength else {
            throw ValidationError(field: "\(at).tenant", reason: "must be 1-\(limits.maxNameLength) bytes")
        }
        guard workload.utf8.count <= limits.maxNameLength else {
            throw ValidationError(field: "\(at).workload", reason: "must be at most \(limits.maxNameLength) bytes")
        }
    }

    /// Turns a JSON decoding failure into the field it happened at and a readable reason.
    public static func describe(_ error: any Error) -> ValidationError {
        guard let decoding = error as? DecodingError else {
            return ValidationError(field: "body", reason: "malformed JSON: \(error)")
        }
        func path(_ codingPath: [any CodingKey]) -> String {
            let text = codingPath.reduce(into: "") { text, key in
                if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
            }
            return text.isEmpty ? "body" : text
        }
        switch decoding {
        case .typeMismatch(let type, let context):
            return ValidationError(field: path(context.codingPath), reason: "expected \(type): \(context.debugDescription)")
        case .valueNotFound(let type, let context):
            return ValidationError(field: path(context.codingPath), reason: "missing \(type) value")
        case .keyNotFound(let key, let context):
            return ValidationError(field: path(context.codingPath + [key]), reason: "required field is missing")
        case .dataCorrupted(let context):
            return ValidationError(field: path(context.codingPath), reason: context.debugDescription)
        @unknown default:
            return ValidationError(field: "body", reason: "\(decoding)")
        }
    }
}

private struct SummaryKey: Hashable {
    var tenant: String
    var resource: ResourceKind
    var startSeconds: Int64
}
