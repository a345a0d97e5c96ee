import BPFLoader
#if canImport(Glibc)
import Glibc
#endif

/// The egress classifier `bpf/classify.bpf.c`, loaded through BPFLoader: a clsact egress filter in direct-action
/// mode that sets a packet's priority to its tenant's HTB class, found by the socket's cgroup v2 id in the map
/// `tenant_classes` that `assign` fills.
///
/// Each instance loads its own program and map; attaching replaces the filter a previous run left, and the
/// `Enforcer` assigns every shaped tenant again after adopting, so nothing depends on the old map.
public final class BPFClassifier: TrafficClassifier {
    private let object: BPFObject
    private let classes: BPFMap
    private let programDescriptor: Int32
    /// The cgroup v2 mount: a tenant's directory there has the inode number the kernel uses as its cgroup id.
    public let unifiedMountPoint: String
    /// What this classifier put in the map, by cgroup path: the id a vanished cgroup had is needed to remove its
    /// entry (the map holds `DPM_MAX_SLOTS` entries, so tenants that come and go must not leave theirs behind).
    private var assigned: [String: (cgroupID: UInt64, classHandle: UInt32)] = [:]

    public init(unifiedMountPoint: String) throws(EnforceError) {
        self.unifiedMountPoint = unifiedMountPoint
        do {
            object = try BPFObject(EmbeddedBPFObject.classify)
            try object.load()
            classes = try object.map("tenant_classes")
            // Owned by the object: valid while this classifier lives.
            programDescriptor = try object.programFileDescriptor("classify_egress")
        } catch {
            throw .bpf("\(error)")
        }
    }

    public func attach(interfaceIndex: Int32, link: String, socket: NetlinkSocket) throws(EnforceError) {
        try socket.request(
            TrafficControlMessages.addEgressBPFFilter(interfaceIndex: interfaceIndex, programDescriptor: programDescriptor, name: "dpm_classify"),
            name: "attach egress classifier on \(link)"
        )
    }

    public func detach(interfaceIndex: Int32, link: String, socket: NetlinkSocket) throws(EnforceError) {
        do {
            try socket.request(TrafficControlMessages.deleteEgressBPFFilter(interfaceIndex: interfaceIndex), name: "detach egress classifier on \(link)")
        } catch let .netlink(_, code) where code.rawValue == ENOENT || code.rawValue == EINVAL {
            // Not attached.
        }
    }

    /// Steady ticks ask again for the same class: answered from `assigned` without a path, a `stat` or a map write.
    public func assign(cgroupPath: String, classHandle: UInt32) throws(EnforceError) {
        if assigned[cgroupPath]?.classHandle == classHandle { return }
        let path = unifiedMountPoint + "/" + cgroupPath.split(separator: "/").joined(separator: "/")
        var status = stat()
        guard stat(path, &status) == 0 else { throw .cgroupMissing(path: path) }
        let cgroupID = UInt64(status.st_ino)
        do { try classes.update(cgroupID, classHandle) } catch { throw .bpf("\(error)") }
        assigned[cgroupPath] = (cgroupID, classHandle)
    }

    public func unassign(cgroupPath: String) throws(EnforceError) {
        guard let (cgroupID, _) = assigned.removeValue(forKey: cgroupPath) else { return }
        do { _ = try classes.delete(cgroupID) } catch { throw .bpf("\(error)") }
    }
}
