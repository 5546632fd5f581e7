import AccessPolicy
import Identity
import Testing

@Suite struct SharingRequestTests {
    let anna = EndpointIdentity.generate().endpointId
    let ben = EndpointIdentity.generate().endpointId
    let carl = EndpointIdentity.generate().endpointId
    let stick = DeviceFacts(busid: "1-1", vendor: 0x0781, product: 0x5581, serial: "4C530001")
    let keyboard = DeviceFacts(busid: "1-2", vendor: 0x1d6b, product: 0x0104, serial: nil)
    let secondKeyboard = DeviceFacts(busid: "1-3", vendor: 0x1d6b, product: 0x0104, serial: nil)
    var devices: [DeviceFacts] { [stick, keyboard, secondKeyboard] }
    var allowlist: [EndpointId] { [anna, ben, carl] }

    func apply(_ request: SharingRequest, to state: inout SharingState) throws -> String {
        try request.apply(to: &state, devices: devices, allowlist: allowlist, newDevices: .unshared)
    }

    @Test func sharingByBusIdOrVendorProductKeepsTheDevicesKey() throws {
        var state = SharingState()
        #expect(try apply(.share(device: "0781:5581", with: nil), to: &state).hasPrefix("shared 1-1"))
        #expect(state.share(of: DeviceKey(stick)) == .everyone)
        _ = try apply(.unshare(device: "1-2"), to: &state)
        #expect(state.share(of: DeviceKey(keyboard)) == .unshared)
    }

    @Test func sharingWithLaptopsAddsToThoseItIsSharedWith() throws {
        var state = SharingState()
        _ = try apply(.share(device: "1-1", with: [ben]), to: &state)
        _ = try apply(.share(device: "1-1", with: [carl, ben]), to: &state)
        #expect(state.share(of: DeviceKey(stick)) == .only([ben, carl]))
        // Shared with everyone already: naming some does not narrow it.
        _ = try apply(.share(device: "1-1", with: nil), to: &state)
        #expect(try apply(.share(device: "1-1", with: [ben]), to: &state).contains("already shared"))
        #expect(state.share(of: DeviceKey(stick)) == .everyone)
    }

    @Test func aDeviceThatIsNotPluggedInOrNotOneIsNamedInTheError() {
        var state = SharingState()
        #expect(throws: SharingRequestError.noSuchDevice("9-9")) {
            try apply(.share(device: "9-9", with: nil), to: &state)
        }
        #expect(throws: SharingRequestError.noSuchDevice("abcd:0001")) {
            try apply(.unshare(device: "abcd:0001"), to: &state)
        }
        #expect(throws: SharingRequestError.ambiguous("1d6b:0104", ["1-2", "1-3"])) {
            try apply(.unshare(device: "1d6b:0104"), to: &state)
        }
        #expect(state == SharingState())
    }

    @Test func onlyAPairedLaptopCanBeOwnerOrBeSharedWith() throws {
        var state = SharingState()
        let stranger = EndpointIdentity.generate().endpointId
        #expect(throws: SharingRequestError.notPaired(stranger)) { try apply(.setOwner(stranger), to: &state) }
        #expect(throws: SharingRequestError.notPaired(stranger)) {
            try apply(.share(device: "1-1", with: [stranger]), to: &state)
        }
        _ = try apply(.setOwner(ben), to: &state)
        #expect(state.owner == ben)
    }
}
