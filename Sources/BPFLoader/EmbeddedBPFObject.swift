/// A BPF object compiled from `bpf/<name>.bpf.c` at build time and carried inside the binary.
///
/// `BPFObjectPlugin` generates one static property per program file (`EmbeddedBPFObject.telemetry`, …). The
/// object is stored as hex digits in a `StaticString`: a byte-array literal of this size would take the
/// type checker minutes.
public struct EmbeddedBPFObject: Sendable {
    public let name: String
    let hexDigits: StaticString

    public init(name: String, hexDigits: StaticString) {
        self.name = name
        self.hexDigits = hexDigits
    }

    /// The ELF bytes of the object.
    public var bytes: [UInt8] {
        hexDigits.withUTF8Buffer { digits in
            precondition(digits.count % 2 == 0, "embedded BPF object \(name): odd number of hex digits")
            return [UInt8](unsafeUninitializedCapacity: digits.count / 2) { buffer, count in
                for index in 0..<digits.count / 2 {
                    buffer[index] = Self.nibble(digits[2 * index]) << 4 | Self.nibble(digits[2 * index + 1])
                }
                count = digits.count / 2
            }
        }
    }

    private static func nibble(_ digit: UInt8) -> UInt8 {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: preconditionFailure("embedded BPF object: not a hex digit: \(digit)")
        }
    }
}
