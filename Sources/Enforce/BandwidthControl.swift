/// Per-tenant egress shaping on a link: what the `Enforcer` needs of the tc layer, as a seam.
public protocol BandwidthControl: AnyObject {
    /// Makes sure the link's shaping tree exists (idempotent); throws `.deviceMissing` for an unknown link.
    func prepare(link: String) throws(EnforceError)
    /// Sets the tenant's class (minor number `classMinor`, stable for the tenant) on the link: `rate` is its
    /// guarantee, `ceil` its allocation; the tenant's packets are steered to the class by its cgroup.
    func setRate(link: String, classMinor: UInt16, tenant: TenantState, rateBitsPerSecond: Double, ceilBitsPerSecond: Double) throws(EnforceError)
    /// Steers the tenant's packets to its class again (after a restart adopted the previous run's classes).
    func assignClass(classMinor: UInt16, tenant: TenantState) throws(EnforceError)
    /// Removes the shaping Enforce set up on the link (restore).
    func remove(link: String) throws(EnforceError)
}
