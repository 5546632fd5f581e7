import AccessPolicy
import Identity
import Testing

@Suite struct DeviceAccessTests {
    let anna = EndpointIdentity.generate().endpointId
    let ben = EndpointIdentity.generate().endpointId
    let carl = EndpointIdentity.generate().endpointId
    let stick = DeviceFacts(busid: "1-1", vendor: 0x0781, product: 0x5581, serial: "4C530001")

    func access(_ sharing: SharingState = SharingState(), new: NewDevices = .unshared, rules: [String] = [])
        throws -> DeviceAccess
    {
        DeviceAccess(
            policy: try AccessPolicy(default: "allow", rules: rules), sharing: sharing, newDevices: new,
            allowlist: [anna, ben, carl])
    }

    @Test func theFirstLaptopPairedOwnsTheServerUnlessAnotherWasMadeOwner() throws {
        #expect(try access().owner == anna)
        #expect(try access(SharingState(owner: ben)).owner == ben)
        // An owner who is no longer paired leaves it to the first one paired.
        let gone = EndpointIdentity.generate().endpointId
        #expect(try access(SharingState(owner: gone)).owner == anna)
        #expect(
            DeviceAccess(policy: .allowAll, sharing: SharingState(), newDevices: .shared, allowlist: []).owner == nil)
    }

    @Test func aNewDeviceIsTheOwnersAloneUnlessNewDevicesAreShared() throws {
        let unshared = try access()
        #expect(unshared.allows(anna, stick) && !unshared.allows(ben, stick))
        let shared = try access(new: .shared)
        #expect(shared.allows(ben, stick) && shared.allows(carl, stick))
    }

    @Test func aDeviceSharedWithSomeIsTheirsAndTheOwnersOnly() throws {
        var sharing = SharingState()
        sharing.set(DeviceKey(stick), .only([ben]))
        let access = try access(sharing, new: .shared)
        #expect(access.allows(anna, stick) && access.allows(ben, stick) && !access.allows(carl, stick))
    }

    @Test func anUnsharedDeviceStaysUnsharedWhenNewDevicesAreShared() throws {
        var sharing = SharingState()
        sharing.set(DeviceKey(stick), .unshared)
        #expect(try !access(sharing, new: .shared).allows(ben, stick))
    }

    @Test func theAccessRulesBindTheOwnerToo() throws {
        var sharing = SharingState()
        sharing.set(DeviceKey(stick), .everyone)
        let access = try access(sharing, rules: ["deny * 0781:*"])
        #expect(!access.allows(anna, stick) && !access.allows(ben, stick))
    }
}
