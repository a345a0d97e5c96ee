import CEnforce
#if canImport(Glibc)
import Glibc
#endif

/// The rtnetlink messages of ingress shaping through an ifb device: create the device and bring it up, and
/// redirect everything a link receives to it (a u32 filter matching every packet on the clsact ingress hook, with a
/// mirred egress-redirect action). The ifb's own HTB tree (`TrafficControlMessages`) then holds the rate.
public enum IngressMessages {
    /// `ip link add NAME type ifb`.
    public static func addIFBDevice(name: String) -> NetlinkMessage {
        var message = NetlinkMessage(type: UInt16(RTM_NEWLINK), flags: UInt16(NLM_F_CREATE | NLM_F_EXCL))
        message.append(ifinfomsg())
        message.attribute(Int32(IFLA_IFNAME), string: name)
        message.nested(Int32(IFLA_LINKINFO)) { info in info.attribute(Int32(IFLA_INFO_KIND), string: "ifb") }
        return message
    }

    /// `ip link set dev INDEX up`.
    public static func setUp(interfaceIndex: Int32) -> NetlinkMessage {
        var message = NetlinkMessage(type: UInt16(RTM_NEWLINK), flags: 0)
        var header = ifinfomsg()
        header.ifi_index = interfaceIndex
        header.ifi_flags = 0x1  // IFF_UP
        header.ifi_change = 0x1
        message.append(header)
        return message
    }

    /// `ip link del dev INDEX`.
    public static func deleteLink(interfaceIndex: Int32) -> NetlinkMessage {
        var message = NetlinkMessage(type: UInt16(RTM_DELLINK), flags: 0)
        var header = ifinfomsg()
        header.ifi_index = interfaceIndex
        message.append(header)
        return message
    }

    /// `tc filter replace dev DEV ingress prio 1 handle 800::800 protocol all u32 match u32 0 0 action mirred
    /// egress redirect dev IFB`.
    public static func redirectIngress(interfaceIndex: Int32, toInterfaceIndex target: Int32) -> NetlinkMessage {
        var message = NetlinkMessage(type: UInt16(RTM_NEWTFILTER), flags: UInt16(NLM_F_CREATE | NLM_F_REPLACE))
        message.append(filterHeader(interfaceIndex: interfaceIndex))
        message.attribute(Int32(TCA_KIND), string: "u32")
        message.nested(Int32(TCA_OPTIONS)) { options in
            // One key that every packet matches (mask 0 at offset 0); terminal, so the action runs.
            var selector = tc_u32_sel()
            selector.flags = UInt8(TC_U32_TERMINAL)
            selector.nkeys = 1
            var bytes = withUnsafeBytes(of: selector) { Array($0.prefix(selectorSize)) }
            withUnsafeBytes(of: tc_u32_key()) { bytes.append(contentsOf: $0) }
            options.attribute(Int32(TCA_U32_SEL), bytes: bytes)
            options.nested(Int32(TCA_U32_ACT)) { actions in
                actions.nested(1 /* the first action */) { action in
                    action.attribute(Int32(TCA_ACT_KIND), string: "mirred")
                    action.nested(Int32(TCA_ACT_OPTIONS)) { mirredOptions in
                        var mirred = tc_mirred()
                        mirred.action = 4  // TC_ACT_STOLEN: the packet continues on the ifb only
                        mirred.eaction = TCA_EGRESS_REDIR
                        mirred.ifindex = UInt32(bitPattern: target)
                        mirredOptions.attribute(Int32(TCA_MIRRED_PARMS), mirred)
                    }
                }
            }
        }
        return message
    }

    /// `tc filter del dev DEV ingress prio 1 handle 800::800 u32`.
    public static func deleteIngressRedirect(interfaceIndex: Int32) -> NetlinkMessage {
        TrafficControlMessages.deleteFilter(filterHeader(interfaceIndex: interfaceIndex), kind: "u32")
    }

    /// `struct tc_u32_sel` without its flexible array of keys (16 bytes on every Linux ABI).
    static let selectorSize = 16

    /// Enforce's filter on the clsact ingress hook: u32 handle `800::800`.
    static func filterHeader(interfaceIndex: Int32) -> tcmsg {
        TrafficControlMessages.filterHeader(interfaceIndex: interfaceIndex, handle: 0x8000_0800, hook: 0xFFFF_FFF2 /* clsact ingress */)
    }
}

extension TrafficShaper {
    /// Shapes everything `link` receives to `bitsPerSecond` through the ifb device `device` (created when missing):
    /// the link's ingress is redirected to it, and its HTB parent class `D9:1` holds the rate. Idempotent; a rate
    /// change is one class change. Undone by `removeIngressShaping` (and `removeClsact` when this created it).
    @discardableResult
    public func shapeIngress(link: String, device: String, bitsPerSecond: Double) throws(EnforceError) -> Bool {
        let linkIndex = try interfaceIndex(of: link)
        do {
            try socket.request(IngressMessages.addIFBDevice(name: device), name: "add ifb device \(device)")
        } catch let .netlink(_, code) where code.rawValue == EEXIST {
            // Ours from an earlier call.
        }
        let deviceIndex = try interfaceIndex(of: device)
        try socket.request(IngressMessages.setUp(interfaceIndex: deviceIndex), name: "set \(device) up")
        do {
            try socket.request(
                TrafficControlMessages.addRootQdisc(interfaceIndex: deviceIndex, defaultClassMinor: TrafficControlMessages.parentMinor),
                name: "add HTB root qdisc on \(device)"
            )
        } catch let .netlink(_, code) where code.rawValue == EEXIST {
            // Set up by an earlier call: only the rate changes.
        }
        try socket.request(
            TrafficControlMessages.setClass(
                interfaceIndex: deviceIndex, minor: TrafficControlMessages.parentMinor, parentMinor: nil,
                rateBitsPerSecond: bitsPerSecond, ceilBitsPerSecond: bitsPerSecond
            ),
            name: "set ingress rate of \(link) on \(device)"
        )
        let createdClsact = try addClsact(interfaceIndex: linkIndex, link: link)
        try socket.request(
            IngressMessages.redirectIngress(interfaceIndex: linkIndex, toInterfaceIndex: deviceIndex),
            name: "redirect ingress of \(link) to \(device)"
        )
        return createdClsact
    }

    /// Takes ingress shaping off `link` and deletes the ifb device `device` (with its qdisc); what is already gone
    /// is skipped.
    public func removeIngressShaping(link: String, device: String) throws(EnforceError) {
        do {
            let linkIndex = try interfaceIndex(of: link)
            try socket.request(IngressMessages.deleteIngressRedirect(interfaceIndex: linkIndex), name: "remove ingress redirect on \(link)")
        } catch .deviceMissing {
            // The link is gone, and its filters with it.
        } catch let .netlink(_, code) where code.rawValue == ENOENT || code.rawValue == EINVAL {
            // Not redirected.
        }
        let deviceIndex: Int32
        do { deviceIndex = try interfaceIndex(of: device) } catch .deviceMissing { return }
        do {
            try socket.request(IngressMessages.deleteLink(interfaceIndex: deviceIndex), name: "delete ifb device \(device)")
        } catch let .netlink(_, code) where code.rawValue == ENODEV {
            // Deleted since its index was looked up.
        }
        forgetInterface(device)
    }
}
