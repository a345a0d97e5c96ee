import CEnforce
#if canImport(Glibc)
import Glibc
#endif

/// The rtnetlink messages of Enforce's tc setup, built by hand (no `tc` process): an HTB root qdisc, one HTB class
/// per tenant, a clsact qdisc and a direct-action BPF filter on its egress hook.
///
/// Pure: each function returns the bytes to send, so tests check them byte for byte.
public enum TrafficControlMessages {
    /// The major handle of every qdisc and class Enforce creates (0xD9, "dpm"), so it never touches others'.
    public static let major: UInt32 = 0xD9
    /// The parent class every tenant class borrows from: `D9:1`.
    public static let parentMinor: UInt16 = 1

    /// Kernel scheduler ticks are 64 ns (`PSCHED_SHIFT` 6): HTB buffers are given in ticks.
    static let nanosecondsPerTick = 64.0
    /// One Ethernet frame: the least burst a class must allow.
    static let mtuBytes = 1600.0

    public static func handle(minor: UInt16) -> UInt32 { major << 16 | UInt32(minor) }

    /// `tc qdisc add dev DEV root handle D9: htb default MINOR`: with 0 (per-tenant egress) unclassified packets
    /// pass unshaped (HTB direct queue); an ifb device sends them all to its parent class `D9:1`.
    public static func addRootQdisc(interfaceIndex: Int32, defaultClassMinor: UInt16 = 0) -> NetlinkMessage {
        var message = NetlinkMessage(type: UInt16(RTM_NEWQDISC), flags: UInt16(NLM_F_CREATE | NLM_F_EXCL))
        message.append(header(interfaceIndex: interfaceIndex, handle: major << 16, parent: TC_H_ROOT))
        message.attribute(Int32(TCA_KIND), string: "htb")
        message.nested(Int32(TCA_OPTIONS)) { options in
            var global = tc_htb_glob()
            global.version = 3  // TC_HTB_PROTOVER
            global.rate2quantum = 10
            global.defcls = UInt32(defaultClassMinor)
            options.attribute(Int32(TCA_HTB_INIT), global)
        }
        return message
    }

    /// `tc qdisc add dev DEV clsact`.
    public static func addClsactQdisc(interfaceIndex: Int32) -> NetlinkMessage {
        var message = NetlinkMessage(type: UInt16(RTM_NEWQDISC), flags: UInt16(NLM_F_CREATE | NLM_F_EXCL))
        message.append(header(interfaceIndex: interfaceIndex, handle: 0xFFFF_0000, parent: 0xFFFF_FFF1 /* TC_H_CLSACT */))
        message.attribute(Int32(TCA_KIND), string: "clsact")
        return message
    }

    /// `tc qdisc del dev DEV root handle D9:`.
    public static func deleteRootQdisc(interfaceIndex: Int32) -> NetlinkMessage {
        var message = NetlinkMessage(type: UInt16(RTM_DELQDISC), flags: 0)
        message.append(header(interfaceIndex: interfaceIndex, handle: major << 16, parent: TC_H_ROOT))
        return message
    }

    /// `tc class replace dev DEV parent PARENT classid D9:MINOR htb rate R ceil C`: creates the class or changes
    /// its rates in place (RTM_NEWTCLASS with NLM_F_CREATE and no NLM_F_EXCL).
    public static func setClass(
        interfaceIndex: Int32, minor: UInt16, parentMinor: UInt16?, rateBitsPerSecond: Double, ceilBitsPerSecond: Double
    ) -> NetlinkMessage {
        var message = NetlinkMessage(type: UInt16(RTM_NEWTCLASS), flags: 0)
        setClass(
            into: &message, interfaceIndex: interfaceIndex, minor: minor, parentMinor: parentMinor,
            rateBitsPerSecond: rateBitsPerSecond, ceilBitsPerSecond: ceilBitsPerSecond
        )
        return message
    }

    /// The same, built in place in `message` (its storage kept): no allocation once the storage holds a class
    /// message (2,176 bytes).
    public static func setClass(
        into message: inout NetlinkMessage, interfaceIndex: Int32, minor: UInt16, parentMinor: UInt16?,
        rateBitsPerSecond: Double, ceilBitsPerSecond: Double
    ) {
        let rateBytes = max(1, UInt64(rateBitsPerSecond / 8))
        let ceilBytes = max(rateBytes, UInt64(ceilBitsPerSecond / 8))
        message.reset(type: UInt16(RTM_NEWTCLASS), flags: UInt16(NLM_F_CREATE))
        let parent = parentMinor.map { handle(minor: $0) } ?? major << 16
        message.append(header(interfaceIndex: interfaceIndex, handle: handle(minor: minor), parent: parent))
        message.attribute(Int32(TCA_KIND), string: "htb")
        var options = tc_htb_opt()
        options.rate = rateSpec(bytesPerSecond: rateBytes)
        options.ceil = rateSpec(bytesPerSecond: ceilBytes)
        options.buffer = bufferTicks(bytesPerSecond: rateBytes)
        options.cbuffer = bufferTicks(bytesPerSecond: ceilBytes)
        message.nested(Int32(TCA_OPTIONS)) { nested in
            nested.attribute(Int32(TCA_HTB_PARMS), options)
            nested.nested(Int32(TCA_HTB_RTAB)) { appendRateTable(to: &$0, bytesPerSecond: rateBytes, cellLog: options.rate.cell_log) }
            nested.nested(Int32(TCA_HTB_CTAB)) { appendRateTable(to: &$0, bytesPerSecond: ceilBytes, cellLog: options.ceil.cell_log) }
            nested.attribute(Int32(TCA_HTB_RATE64), rateBytes)
            nested.attribute(Int32(TCA_HTB_CEIL64), ceilBytes)
        }
    }

    /// `tc class del dev DEV classid D9:MINOR` (a forgotten tenant's class; its leaf qdisc goes with it).
    public static func deleteClass(interfaceIndex: Int32, minor: UInt16) -> NetlinkMessage {
        var message = NetlinkMessage(type: UInt16(RTM_DELTCLASS), flags: 0)
        message.append(header(interfaceIndex: interfaceIndex, handle: handle(minor: minor), parent: handle(minor: parentMinor)))
        return message
    }

    /// `tc qdisc del dev DEV clsact` (restore, when Enforce created it).
    public static func deleteClsactQdisc(interfaceIndex: Int32) -> NetlinkMessage {
        var message = NetlinkMessage(type: UInt16(RTM_DELQDISC), flags: 0)
        message.append(header(interfaceIndex: interfaceIndex, handle: 0xFFFF_0000, parent: 0xFFFF_FFF1 /* TC_H_CLSACT */))
        return message
    }

    /// `tc filter replace dev DEV egress prio 1 handle 1 bpf direct-action fd FD name NAME`: a restarted agent's
    /// program takes the place of the previous one.
    public static func addEgressBPFFilter(interfaceIndex: Int32, programDescriptor: Int32, name: String) -> NetlinkMessage {
        var message = NetlinkMessage(type: UInt16(RTM_NEWTFILTER), flags: UInt16(NLM_F_CREATE | NLM_F_REPLACE))
        message.append(egressFilterHeader(interfaceIndex: interfaceIndex))
        message.attribute(Int32(TCA_KIND), string: "bpf")
        message.nested(Int32(TCA_OPTIONS)) { options in
            options.attribute(Int32(TCA_BPF_FD), UInt32(bitPattern: programDescriptor))
            options.attribute(Int32(TCA_BPF_NAME), string: name)
            options.attribute(Int32(TCA_BPF_FLAGS), UInt32(TCA_BPF_FLAG_ACT_DIRECT))
        }
        return message
    }

    /// `tc filter del dev DEV egress prio 1 handle 1 bpf`.
    public static func deleteEgressBPFFilter(interfaceIndex: Int32) -> NetlinkMessage {
        deleteFilter(egressFilterHeader(interfaceIndex: interfaceIndex), kind: "bpf")
    }

    /// `RTM_DELTFILTER` of one of Enforce's filters.
    static func deleteFilter(_ header: tcmsg, kind: String) -> NetlinkMessage {
        var message = NetlinkMessage(type: UInt16(RTM_DELTFILTER), flags: 0)
        message.append(header)
        message.attribute(Int32(TCA_KIND), string: kind)
        return message
    }

    /// Enforce's filter on the clsact egress hook: priority 1, every protocol, handle 1.
    static func egressFilterHeader(interfaceIndex: Int32) -> tcmsg {
        filterHeader(interfaceIndex: interfaceIndex, handle: 1, hook: 0xFFFF_FFF3 /* clsact egress */)
    }

    /// The header of an Enforce filter on a clsact hook: priority 1, every protocol.
    static func filterHeader(interfaceIndex: Int32, handle: UInt32, hook: UInt32) -> tcmsg {
        let protocolAll = UInt32(UInt16(0x0003 /* ETH_P_ALL */).bigEndian)
        let priority: UInt32 = 1
        var header = header(interfaceIndex: interfaceIndex, handle: handle, parent: hook)
        header.tcm_info = priority << 16 | protocolAll
        return header
    }

    /// `RTM_GETLINK` by name: the answer carries the interface index.
    public static func getLink(name: String) -> NetlinkMessage {
        var message = NetlinkMessage(type: UInt16(RTM_GETLINK), flags: 0)
        message.append(ifinfomsg())
        message.attribute(Int32(IFLA_IFNAME), string: name)
        return message
    }

    static func header(interfaceIndex: Int32, handle: UInt32, parent: UInt32) -> tcmsg {
        var header = tcmsg()
        header.tcm_family = UInt8(AF_UNSPEC)
        header.tcm_ifindex = interfaceIndex
        header.tcm_handle = handle
        header.tcm_parent = parent
        return header
    }

    /// A rate as the kernel's `tc_ratespec` (32-bit bytes/s; larger rates go in `TCA_HTB_RATE64`), Ethernet
    /// link layer so the kernel needs no rate table to size packets.
    static func rateSpec(bytesPerSecond: UInt64) -> tc_ratespec {
        var spec = tc_ratespec()
        spec.rate = UInt32(min(bytesPerSecond, UInt64(UInt32.max)))
        spec.linklayer = UInt8(TC_LINKLAYER_ETHERNET.rawValue)
        spec.cell_align = -1
        spec.cell_log = 3  // 256 cells of 8 bytes cover a 2047-byte packet, as tc computes for the default MTU
        return spec
    }

    /// How long a class may send at full speed, in ticks: one millisecond of traffic plus one frame.
    static func bufferTicks(bytesPerSecond: UInt64) -> UInt32 {
        let burstBytes = Double(bytesPerSecond) / 1000 + mtuBytes
        return UInt32(min(Double(UInt32.max), burstBytes / Double(bytesPerSecond) * 1e9 / nanosecondsPerTick))
    }

    /// Appends the legacy rate table (`TCA_HTB_RTAB`): transmit time in ticks of packets of (i + 1) << cellLog
    /// bytes, 256 cells of 32 bits.
    static func appendRateTable(to message: inout NetlinkMessage, bytesPerSecond: UInt64, cellLog: UInt8) {
        for cell in 0..<256 {
            let size = Double((cell + 1) << Int(cellLog))
            message.append(UInt32(min(Double(UInt32.max), size / Double(bytesPerSecond) * 1e9 / nanosecondsPerTick)))
        }
    }
}

/// SR-IOV: the rate of a virtual function, set on its physical function through rtnetlink.
///
/// - Important: Unverified on hardware. No SR-IOV device exists on the machines dpm is built on; the message is
///   unit-tested byte for byte against the kernel's layout (`IFLA_VFINFO_LIST` → `IFLA_VF_INFO` → `IFLA_VF_RATE`),
///   not against a NIC driver.
public enum VirtualFunctionMessages {
    /// `ip link set dev PF vf N min_tx_rate MIN max_tx_rate MAX` (rates in Mbit/s; 0 means no limit).
    public static func setRate(physicalFunctionIndex: Int32, virtualFunction: UInt32, minMegabitsPerSecond: UInt32, maxMegabitsPerSecond: UInt32) -> NetlinkMessage {
        var message = NetlinkMessage(type: UInt16(RTM_SETLINK), flags: 0)
        var info = ifinfomsg()
        info.ifi_family = UInt8(AF_UNSPEC)
        info.ifi_index = physicalFunctionIndex
        message.append(info)
        message.nested(Int32(IFLA_VFINFO_LIST)) { list in
            list.nested(Int32(IFLA_VF_INFO)) { vf in
                var rate = ifla_vf_rate()
                rate.vf = virtualFunction
                rate.min_tx_rate = minMegabitsPerSecond
                rate.max_tx_rate = maxMegabitsPerSecond
                vf.attribute(Int32(IFLA_VF_RATE), rate)
            }
        }
        return message
    }
}
