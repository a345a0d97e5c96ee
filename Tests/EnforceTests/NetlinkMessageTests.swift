import CEnforce
@testable import Enforce
import Testing

@Suite struct NetlinkMessageTests {
    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test func encodesTheSRIOVRateMessageByteForByte() {
        let message = VirtualFunctionMessages.setRate(
            physicalFunctionIndex: 7, virtualFunction: 2, minMegabitsPerSecond: 100, maxMegabitsPerSecond: 1000
        ).finished(sequence: 9)
        let expected =
            "38000000" + "1300" + "0500" + "09000000" + "00000000"  // nlmsghdr: 56 bytes, RTM_SETLINK, REQUEST|ACK, seq 9
            + "00000000" + "07000000" + "00000000" + "00000000"     // ifinfomsg: AF_UNSPEC, index 7
            + "18001600"                                             // IFLA_VFINFO_LIST, 24 bytes
            + "14000100"                                             //   IFLA_VF_INFO, 20 bytes
            + "10000600" + "02000000" + "64000000" + "e8030000"     //     IFLA_VF_RATE {vf 2, min 100, max 1000}
        #expect(hex(message) == expected)
    }

    @Test func encodesAnHTBClassChange() {
        let message = TrafficControlMessages.setClass(
            interfaceIndex: 3, minor: 0x12, parentMinor: 1, rateBitsPerSecond: 50e6, ceilBitsPerSecond: 200e6
        ).finished(sequence: 1)
        // nlmsghdr + tcmsg + "htb" kind + options{parms 44, rtab 1024, ctab 1024, rate64 8, ceil64 8}
        #expect(message.count == 16 + 20 + 8 + 4 + (4 + 44) + (4 + 1024) + (4 + 1024) + (4 + 8) + (4 + 8))
        #expect(hex(Array(message[0..<8])) == "80080000" + "2800" + "0504")  // 2176 bytes, RTM_NEWTCLASS, REQUEST|ACK|CREATE
        // tcmsg: family 0, ifindex 3, handle D9:12, parent D9:1
        #expect(hex(Array(message[16..<36])) == "00000000" + "03000000" + "1200d900" + "0100d900" + "00000000")
        #expect(hex(Array(message[36..<44])) == "08000100" + "68746200")  // TCA_KIND "htb\0"
        let parms = Array(message[52..<96])  // after TCA_OPTIONS and TCA_HTB_PARMS headers
        // rate: cell_log 3, linklayer ethernet, overhead 0, cell_align -1, mpu 0, 6,250,000 bytes/s
        #expect(hex(Array(parms[0..<12])) == "0301" + "0000" + "ffff" + "0000" + "105e5f00")
        #expect(hex(Array(parms[12..<24])) == "0301" + "0000" + "ffff" + "0000" + "40787d01")  // ceil 25,000,000 B/s
        let rate64 = message.count - 24
        #expect(hex(Array(message[rate64..<rate64 + 24])) == "0c000600" + "105e5f0000000000" + "0c000700" + "40787d0100000000")
    }

    @Test func bufferHoldsAMillisecondAndAFrame() {
        // 6,250,000 B/s: 6,250 + 1,600 bytes take 1.256 ms = 19,625 ticks of 64 ns.
        #expect(TrafficControlMessages.bufferTicks(bytesPerSecond: 6_250_000) == 19_625)
        let message = TrafficControlMessages.setClass(
            interfaceIndex: 3, minor: 2, parentMinor: 1, rateBitsPerSecond: 8e6, ceilBitsPerSecond: 8e6
        ).finished()
        // TCA_HTB_RTAB after the parms: 1,028 bytes; cell 0 is an 8-byte packet at 1,000,000 B/s: 8 µs = 125 ticks,
        // the last cell (2,048 bytes) 2,048 µs = 32,000 ticks.
        #expect(hex(Array(message[96..<104])) == "04040400" + "7d000000")
        #expect(hex(Array(message[1120..<1124])) == "007d0000")
    }

    /// A message rebuilt in place holds exactly what a new one would, whatever it held before.
    @Test func aMessageRebuiltInPlaceEqualsANewOne() {
        var reused = TrafficControlMessages.addRootQdisc(interfaceIndex: 9)
        for (rate, ceil) in [(10e6, 50e6), (1e6, 200e6)] {
            TrafficControlMessages.setClass(into: &reused, interfaceIndex: 3, minor: 7, parentMinor: 1, rateBitsPerSecond: rate, ceilBitsPerSecond: ceil)
            let new = TrafficControlMessages.setClass(interfaceIndex: 3, minor: 7, parentMinor: 1, rateBitsPerSecond: rate, ceilBitsPerSecond: ceil)
            #expect(reused.finished(sequence: 5) == new.finished(sequence: 5))
        }
    }

    @Test func encodesAClassDeletion() {
        let message = TrafficControlMessages.deleteClass(interfaceIndex: 3, minor: 0x2a).finished(sequence: 1)
        // 36 bytes, RTM_DELTCLASS, REQUEST|ACK; tcmsg: ifindex 3, handle D9:2a, parent D9:1
        #expect(hex(message) == "24000000" + "2900" + "0500" + "01000000" + "00000000"
            + "00000000" + "03000000" + "2a00d900" + "0100d900" + "00000000")
    }

    @Test func encodesTheEgressBPFFilter() {
        let message = TrafficControlMessages.addEgressBPFFilter(interfaceIndex: 4, programDescriptor: 11, name: "classify").finished()
        #expect(hex(Array(message[16..<36])) == "00000000" + "04000000" + "01000000" + "f3ffffff" + "00030100")  // info: prio 1, htons(ETH_P_ALL)
        #expect(hex(Array(message[36..<44])) == "08000100" + "62706600")  // TCA_KIND "bpf\0"
        // TCA_OPTIONS { TCA_BPF_FD 11, TCA_BPF_NAME "classify", TCA_BPF_FLAGS direct-action }
        #expect(hex(Array(message[44...])) == "24000200" + "08000600" + "0b000000" + "0d000700" + "636c617373696679" + "00000000" + "08000800" + "01000000")
    }

    @Test func encodesTheIngressRedirectToAnIFBDevice() {
        let message = IngressMessages.redirectIngress(interfaceIndex: 3, toInterfaceIndex: 9).finished(sequence: 1)
        // tcmsg: ifindex 3, handle 800::800, parent clsact ingress, info prio 1 protocol ETH_P_ALL
        #expect(hex(Array(message[16..<36])) == "00000000" + "03000000" + "00080080" + "f2ffffff" + "00030100")
        #expect(hex(Array(message[36..<44])) == "08000100" + "75333200")  // TCA_KIND "u32\0"
        // TCA_OPTIONS, then TCA_U32_SEL: 16-byte selector (terminal, 1 key) + one all-zero key (mask 0 matches all)
        #expect(hex(Array(message[48..<56])) == "24000500" + "01000100")
        #expect(hex(Array(message[56..<84])) == String(repeating: "0", count: 56))
        // The mirred action's parms end with eaction 1 (egress redirect) and ifindex 9.
        #expect(hex(Array(message.suffix(8))) == "01000000" + "09000000")
        #expect(String(decoding: message, as: UTF8.self).contains("mirred"))
    }
}
