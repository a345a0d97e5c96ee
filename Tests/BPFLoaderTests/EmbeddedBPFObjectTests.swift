import BPFLoader
import Testing

@Suite struct EmbeddedBPFObjectTests {
    @Test func telemetryObjectIsABPFELFWithBTF() {
        let bytes = EmbeddedBPFObject.telemetry.bytes
        #expect(bytes.starts(with: [0x7f, 0x45, 0x4c, 0x46]))  // ELF
        #expect(bytes[4] == 2)  // 64-bit
        #expect(UInt16(bytes[18]) | UInt16(bytes[19]) << 8 == 247)  // EM_BPF
        let btfSection = Array(".BTF.ext".utf8)
        #expect(bytes.indices.contains { bytes[$0...].starts(with: btfSection) })
    }

    @Test func decodesHexDigitsInOrder() {
        #expect(EmbeddedBPFObject(name: "t", hexDigits: "00ff7f0a").bytes == [0x00, 0xff, 0x7f, 0x0a])
        #expect(EmbeddedBPFObject(name: "empty", hexDigits: "").bytes.isEmpty)
    }
}
