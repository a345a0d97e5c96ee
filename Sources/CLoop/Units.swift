/// Parsers for the human units the configuration file uses: durations (`1ms`, `200us`), sizes (`200Mi`, `1G`),
/// rates (`100Mbit`, `1Gbit`) and plain numbers. Each returns nil on text it does not understand, so the caller can
/// name the field.
public enum Units {
    /// A duration in nanoseconds: a number followed by `ns`, `us` (or `µs`), `ms`, `s`, `m` or `h`.
    public static func durationNanoseconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        return scaled(text, units: units, requireUnit: true)
    }

    /// A size in bytes: a number with an optional suffix `K`, `M`, `G`, `T` (powers of 1000) or `Ki`, `Mi`, `Gi`, `Ti`
    /// (powers of 1024); `B` may follow either.
    public static func sizeBytes(_ text: String) -> Double? {
        var units: [(String, Double)] = []
        for (index, letter) in ["K", "M", "G", "T"].enumerated() {
            let power = Double(index + 1)
            units += [("\(letter)iB", pow1024(power)), ("\(letter)i", pow1024(power)), ("\(letter)B", pow1000(power)), (letter, pow1000(power))]
        }
        units.append(("B", 1))
        return scaled(text, units: units, requireUnit: false)
    }

    /// A rate in bits per second: a number with an optional suffix `bit`, `Kbit`, `Mbit`, `Gbit` (powers of 1000,
    /// as tc counts).
    public static func rateBitsPerSecond(_ text: String) -> Double? {
        let units: [(String, Double)] = [("Gbit", 1e9), ("Mbit", 1e6), ("Kbit", 1e3), ("kbit", 1e3), ("bit", 1)]
        return scaled(text, units: units, requireUnit: false)
    }

    /// Formats nanoseconds the way the configuration writes them (for messages and `status`).
    public static func formatNanoseconds(_ nanoseconds: Double) -> String {
        if nanoseconds >= 1e9 { return "\(trimmed(nanoseconds / 1e9))s" }
        if nanoseconds >= 1e6 { return "\(trimmed(nanoseconds / 1e6))ms" }
        if nanoseconds >= 1e3 { return "\(trimmed(nanoseconds / 1e3))us" }
        return "\(trimmed(nanoseconds))ns"
    }

    private static func trimmed(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    private static func pow1024(_ power: Double) -> Double { (0..<Int(power)).reduce(1.0) { acc, _ in acc * 1024 } }
    private static func pow1000(_ power: Double) -> Double { (0..<Int(power)).reduce(1.0) { acc, _ in acc * 1000 } }

    /// Splits `text` into a number and the longest matching unit suffix; the number must be finite and non-negative.
    private static func scaled(_ text: String, units: [(String, Double)], requireUnit: Bool) -> Double? {
        let trimmedText = text.trimmingSpaces()
        for (suffix, factor) in units.sorted(by: { $0.0.count > $1.0.count }) where trimmedText.hasSuffix(suffix) {
            let number = String(trimmedText.dropLast(suffix.count)).trimmingSpaces()
            if let value = Double(number), value.isFinite, value >= 0 { return value * factor }
        }
        if requireUnit { return nil }
        guard let value = Double(trimmedText), value.isFinite, value >= 0 else { return nil }
        return value
    }
}

extension String {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
