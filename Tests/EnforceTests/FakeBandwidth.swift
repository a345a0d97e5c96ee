import Enforce

/// Plays the tc layer for unit tests: links that exist, their clsact qdiscs, classes and ifb devices as sets, and
/// a log of every change in the order made.
final class FakeBandwidth: BandwidthControl {
    let links: Set<String>
    private(set) var clsact: Set<String>
    private(set) var trees: Set<String> = []
    private(set) var classes: Set<String> = []
    private(set) var ingress: [String: String] = [:]
    private(set) var log: [String] = []

    init(links: Set<String>, clsact: Set<String> = []) {
        self.links = links
        self.clsact = clsact
    }

    private func existing(_ link: String) throws(EnforceError) {
        guard links.contains(link) else { throw .deviceMissing(link) }
    }

    func prepare(link: String) throws(EnforceError) -> Bool {
        try existing(link)
        if trees.insert(link).inserted { log.append("tree \(link)") }
        let created = clsact.insert(link).inserted
        if created { log.append("clsact \(link)") }
        return created
    }

    func setRate(link: String, classMinor: UInt16, tenant: TenantState, rateBitsPerSecond: Double, ceilBitsPerSecond: Double) throws(EnforceError) {
        classes.insert("\(link) \(classMinor) \(tenant.name)")
        log.append("class \(link) \(classMinor) ceil \(Int(ceilBitsPerSecond))")
    }

    func assignClass(classMinor: UInt16, tenant: TenantState) throws(EnforceError) {}

    func removeClass(link: String, classMinor: UInt16, tenant: TenantState) throws(EnforceError) {
        classes.remove("\(link) \(classMinor) \(tenant.name)")
        log.append("delete class \(link) \(classMinor)")
    }

    func remove(link: String) throws(EnforceError) {
        trees.remove(link)
        classes = classes.filter { !$0.hasPrefix(link + " ") }
        log.append("remove tree \(link)")
    }

    func shapeIngress(link: String, device: String, bitsPerSecond: Double) throws(EnforceError) -> Bool {
        try existing(link)
        ingress[link] = device
        log.append("ingress \(link) via \(device) at \(Int(bitsPerSecond))")
        let created = clsact.insert(link).inserted
        if created { log.append("clsact \(link)") }
        return created
    }

    func removeIngressShaping(link: String, device: String) throws(EnforceError) {
        ingress[link] = nil
        log.append("remove ingress \(link) via \(device)")
    }

    func removeClsact(link: String) throws(EnforceError) {
        clsact.remove(link)
        log.append("remove clsact \(link)")
    }
}
