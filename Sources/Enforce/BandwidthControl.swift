/// Per-tenant egress shaping on a link, and ingress shaping per link: what the `Enforcer` needs of the tc layer,
/// as a seam.
///
/// The calls that set something up say whether they created the link's clsact qdisc: it is shared (other users may
/// have filters on it), so the `Enforcer` records in its baseline only the ones it created and restore removes those.
public protocol BandwidthControl: AnyObject {
    /// Makes sure the link's shaping tree exists (idempotent); throws `.deviceMissing` for an unknown link. Returns
    /// true when this call created the link's clsact qdisc.
    @discardableResult
    func prepare(link: String) throws(EnforceError) -> Bool
    /// Sets the tenant's class (minor number `classMinor`, stable for the tenant) on the link: `rate` is its
    /// guarantee, `ceil` its allocation; the tenant's packets are steered to the class by its cgroup.
    func setRate(link: String, classMinor: UInt16, tenant: TenantState, rateBitsPerSecond: Double, ceilBitsPerSecond: Double) throws(EnforceError)
    /// Steers the tenant's packets to its class again (after a restart adopted the previous run's classes).
    func assignClass(classMinor: UInt16, tenant: TenantState) throws(EnforceError)
    /// Takes a tenant that is gone off the link: deletes its class and its classifier entry (both may be gone).
    func removeClass(link: String, classMinor: UInt16, tenant: TenantState) throws(EnforceError)
    /// Removes the shaping tree Enforce set up on the link and its classifier (restore).
    func remove(link: String) throws(EnforceError)
    /// Shapes everything the link receives to `bitsPerSecond` through the ifb device `device` (created when
    /// missing). Returns true when this call created the link's clsact qdisc.
    @discardableResult
    func shapeIngress(link: String, device: String, bitsPerSecond: Double) throws(EnforceError) -> Bool
    /// Takes ingress shaping off the link and deletes the ifb device (either may be gone).
    func removeIngressShaping(link: String, device: String) throws(EnforceError)
    /// Deletes the link's clsact qdisc (restore, when Enforce created it; it may be gone).
    func removeClsact(link: String) throws(EnforceError)
}
