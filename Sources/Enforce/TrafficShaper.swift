import CEnforce
#if canImport(Glibc)
import Glibc
#endif

/// Steers a tenant's packets to its HTB class: a classifier on the link's clsact egress hook that maps the
/// sending socket's cgroup v2 id to a class.
public protocol TrafficClassifier: AnyObject {
    /// Attaches the classifier to a link's egress hook, whose clsact qdisc exists (idempotent).
    func attach(interfaceIndex: Int32, link: String, socket: NetlinkSocket) throws(EnforceError)
    /// Sends packets of sockets in the cgroup (path relative to the cgroup v2 root) to the class `handle`.
    func assign(cgroupPath: String, classHandle: UInt32) throws(EnforceError)
    /// Forgets the cgroup's class (the cgroup is gone: its entry is found by the id it had when assigned).
    func unassign(cgroupPath: String) throws(EnforceError)
    /// Takes the classifier off a link's egress hook.
    func detach(interfaceIndex: Int32, link: String, socket: NetlinkSocket) throws(EnforceError)
}

/// Per-tenant egress shaping with HTB over raw rtnetlink: the tree is set up once per link, idempotently, and a
/// rate change is one `RTM_NEWTCLASS` message answered by an ACK.
///
/// Tree: root qdisc `D9:` (HTB, unclassified traffic unshaped), parent class `D9:1` at the link's capacity, one
/// class `D9:<minor>` per tenant with `rate` = its guarantee and `ceil` = its allocation.
public final class TrafficShaper: BandwidthControl {
    public let socket: NetlinkSocket
    let classifier: (any TrafficClassifier)?
    /// The capacity of each link (the parent class's rate); links not listed get `defaultLinkBitsPerSecond`.
    public var linkBitsPerSecond: [String: Double]
    public static let defaultLinkBitsPerSecond = 10e9
    private var interfaceIndices: [String: Int32] = [:]
    private var prepared: Set<String> = []
    /// The buffer every class rate change is built in (kept, so a change allocates nothing).
    private var classMessage = NetlinkMessage(type: UInt16(RTM_NEWTCLASS), flags: 0)

    /// - Parameter namespacePath: a network namespace (`/var/run/netns/NAME`) to shape in instead of this one.
    public init(
        namespacePath: String? = nil, linkBitsPerSecond: [String: Double] = [:], classifier: (any TrafficClassifier)? = nil
    ) throws(EnforceError) {
        socket = try NetlinkSocket(namespacePath: namespacePath)
        self.linkBitsPerSecond = linkBitsPerSecond
        self.classifier = classifier
    }

    /// The kernel's index of a network device, from `RTM_GETLINK`.
    public func interfaceIndex(of link: String) throws(EnforceError) -> Int32 {
        if let index = interfaceIndices[link] { return index }
        let answers: [[UInt8]]
        do {
            answers = try socket.query(TrafficControlMessages.getLink(name: link), answerType: UInt16(RTM_NEWLINK), name: "RTM_GETLINK \(link)")
        } catch let .netlink(_, code) where code.rawValue == ENODEV {
            throw .deviceMissing(link)
        }
        guard let answer = answers.first, answer.count >= MemoryLayout<ifinfomsg>.size else { throw .deviceMissing(link) }
        let index = answer.withUnsafeBytes { $0.loadUnaligned(as: ifinfomsg.self).ifi_index }
        interfaceIndices[link] = index
        return index
    }

    /// Drops a device's cached index (the device was deleted; a new one of that name has another index).
    func forgetInterface(_ link: String) {
        interfaceIndices[link] = nil
        prepared.remove(link)
    }

    @discardableResult
    public func prepare(link: String) throws(EnforceError) -> Bool {
        guard !prepared.contains(link) else { return false }
        let index = try interfaceIndex(of: link)
        do {
            try socket.request(TrafficControlMessages.addRootQdisc(interfaceIndex: index), name: "add HTB root qdisc on \(link)")
        } catch let .netlink(_, code) where code.rawValue == EEXIST {
            // A root qdisc exists: ours from an earlier run (the parent class below succeeds only under D9:).
        }
        let capacity = linkBitsPerSecond[link] ?? Self.defaultLinkBitsPerSecond
        try socket.request(
            TrafficControlMessages.setClass(
                interfaceIndex: index, minor: TrafficControlMessages.parentMinor, parentMinor: nil,
                rateBitsPerSecond: capacity, ceilBitsPerSecond: capacity
            ),
            name: "set parent class D9:1 on \(link) (is the root qdisc someone else's?)"
        )
        var createdClsact = false
        if let classifier {
            createdClsact = try addClsact(interfaceIndex: index, link: link)
            try classifier.attach(interfaceIndex: index, link: link, socket: socket)
        }
        prepared.insert(link)
        return createdClsact
    }

    /// Adds the link's clsact qdisc; false when it exists (another user's, or Enforce's from an earlier call).
    func addClsact(interfaceIndex: Int32, link: String) throws(EnforceError) -> Bool {
        do {
            try socket.request(TrafficControlMessages.addClsactQdisc(interfaceIndex: interfaceIndex), name: "add clsact qdisc on \(link)")
            return true
        } catch let .netlink(_, code) where code.rawValue == EEXIST {
            return false
        }
    }

    public func removeClsact(link: String) throws(EnforceError) {
        let index: Int32
        do { index = try interfaceIndex(of: link) } catch .deviceMissing { return }
        do {
            try socket.request(TrafficControlMessages.deleteClsactQdisc(interfaceIndex: index), name: "delete clsact qdisc on \(link)")
        } catch let .netlink(_, code) where code.rawValue == ENOENT || code.rawValue == EINVAL {
            // Already gone.
        }
    }

    public func setRate(link: String, classMinor: UInt16, tenant: TenantState, rateBitsPerSecond: Double, ceilBitsPerSecond: Double) throws(EnforceError) {
        try prepare(link: link)
        let index = try interfaceIndex(of: link)
        let capacity = linkBitsPerSecond[link] ?? Self.defaultLinkBitsPerSecond
        let ceil = ceilBitsPerSecond.isFinite ? ceilBitsPerSecond : capacity
        try setClassRate(interfaceIndex: index, minor: classMinor, rateBitsPerSecond: min(rateBitsPerSecond, ceil), ceilBitsPerSecond: ceil)
        try assignClass(classMinor: classMinor, tenant: tenant)
    }

    public func assignClass(classMinor: UInt16, tenant: TenantState) throws(EnforceError) {
        try classifier?.assign(cgroupPath: tenant.cgroupPath, classHandle: TrafficControlMessages.handle(minor: classMinor))
    }

    /// One class rate change: a single netlink message and its ACK (the hot path of network enforcement). The
    /// message is rebuilt in place in a buffer kept for it: no heap allocation.
    public func setClassRate(interfaceIndex: Int32, minor: UInt16, rateBitsPerSecond: Double, ceilBitsPerSecond: Double) throws(EnforceError) {
        TrafficControlMessages.setClass(
            into: &classMessage, interfaceIndex: interfaceIndex, minor: minor, parentMinor: TrafficControlMessages.parentMinor,
            rateBitsPerSecond: rateBitsPerSecond, ceilBitsPerSecond: ceilBitsPerSecond
        )
        try socket.request(
            reusing: &classMessage, name: "set class D9:\(String(minor, radix: 16)) rate \(rateBitsPerSecond) ceil \(ceilBitsPerSecond)"
        )
    }

    public func removeClass(link: String, classMinor: UInt16, tenant: TenantState) throws(EnforceError) {
        try classifier?.unassign(cgroupPath: tenant.cgroupPath)
        let index: Int32
        do { index = try interfaceIndex(of: link) } catch .deviceMissing { return }
        do {
            try socket.request(
                TrafficControlMessages.deleteClass(interfaceIndex: index, minor: classMinor),
                name: "delete class D9:\(String(classMinor, radix: 16)) of \(tenant.name) on \(link)"
            )
        } catch let .netlink(_, code) where code.rawValue == ENOENT || code.rawValue == EINVAL {
            // Never made on this link, or the tree is gone.
        }
    }

    public func remove(link: String) throws(EnforceError) {
        let index: Int32
        do { index = try interfaceIndex(of: link) } catch .deviceMissing { return }  // its qdiscs went with it
        do {
            try socket.request(TrafficControlMessages.deleteRootQdisc(interfaceIndex: index), name: "delete HTB root qdisc on \(link)")
        } catch let .netlink(_, code) where code.rawValue == ENOENT || code.rawValue == EINVAL {
            // Already gone.
        }
        try classifier?.detach(interfaceIndex: index, link: link, socket: socket)
        prepared.remove(link)
    }

    /// Sets an SR-IOV virtual function's transmit rate on its physical function (rounded to whole Mbit/s;
    /// 0 = unlimited). Unverified on hardware: see `VirtualFunctionMessages`.
    public func setVirtualFunctionRate(
        physicalFunction link: String, virtualFunction: UInt32, minBitsPerSecond: Double, maxBitsPerSecond: Double
    ) throws(EnforceError) {
        let index = try interfaceIndex(of: link)
        func megabits(_ bitsPerSecond: Double) -> UInt32 {
            bitsPerSecond.isFinite ? UInt32(min(Double(UInt32.max), max(0, (bitsPerSecond / 1e6).rounded()))) : 0
        }
        try socket.request(
            VirtualFunctionMessages.setRate(
                physicalFunctionIndex: index, virtualFunction: virtualFunction,
                minMegabitsPerSecond: megabits(minBitsPerSecond), maxMegabitsPerSecond: megabits(maxBitsPerSecond)
            ),
            name: "set rate of VF \(virtualFunction) on \(link)"
        )
    }
}
