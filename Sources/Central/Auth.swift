import Crypto
import Foundation
import Synchronization

/// Bearer tokens of edge hosts: made random, stored only as their SHA-256, compared in constant time.
public enum HostToken {
    /// A new token: 32 random bytes, hex (64 characters).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    public static func sha256(_ token: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(token.utf8)))
    }

    /// Equal contents, in time that depends only on the length (both are 32-byte digests here).
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

/// Checks `Authorization: Bearer …` against the store, caching token hashes briefly so a request costs no query
/// and a rotated token (`dpm central token add` again) takes effect within `cacheSeconds`.
final class TokenAuthority: Sendable {
    private let store: any CentralStore
    private let cacheSeconds: Double
    private let cache = Mutex<[String: (hash: [UInt8]?, fetchedUptime: Double)]>([:])

    init(store: any CentralStore, cacheSeconds: Double = 10) {
        self.store = store
        self.cacheSeconds = cacheSeconds
    }

    /// True when `authorization` carries the host's current token.
    func authenticate(host: String, authorization: String?) async throws -> Bool {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return false }
        let presented = HostToken.sha256(String(authorization.dropFirst("Bearer ".count)))
        let now = ProcessInfo.processInfo.systemUptime
        let cached = cache.withLock { $0[host] }
        let stored: [UInt8]?
        if let cached, now - cached.fetchedUptime < cacheSeconds {
            stored = cached.hash
        } else {
            stored = try await store.tokenHash(host: host)
            cache.withLock { $0[host] = (stored, now) }
        }
        guard let stored else { return false }
        return HostToken.constantTimeEqual(presented, stored)
    }
}

/// Per-host token buckets: `ratePerSecond` requests on average, bursts up to `burst`.
final class RateLimiter: Sendable {
    private let ratePerSecond: Double
    private let burst: Double
    private let buckets = Mutex<[String: (tokens: Double, updatedUptime: Double)]>([:])

    init(ratePerSecond: Double, burst: Double) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst
    }

    /// Takes one request's token; false (and the seconds until one is available) when the host is over its rate.
    func admit(host: String) -> (admitted: Bool, retryAfterSeconds: Double) {
        let now = ProcessInfo.processInfo.systemUptime
        return buckets.withLock { buckets in
            var bucket = buckets[host] ?? (burst, now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updatedUptime) * ratePerSecond)
            bucket.updatedUptime = now
            defer { buckets[host] = bucket }
            guard bucket.tokens >= 1 else { return (false, (1 - bucket.tokens) / ratePerSecond) }
            bucket.tokens -= 1
            return (true, 0)
        }
    }
}
