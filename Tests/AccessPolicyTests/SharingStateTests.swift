import AccessPolicy
import Foundation
import Identity
import TestSupport
import Testing

@Suite struct SharingStateTests {
    let anna = EndpointIdentity.generate().endpointId
    let ben = EndpointIdentity.generate().endpointId
    let stick = DeviceKey(vendor: 0x0781, product: 0x5581, place: .serial("4C530001"))
    let mouse = DeviceKey(vendor: 0x046d, product: 0xc52b, place: .port("1-1.3"))

    @Test func whatItWritesItReadsBack() throws {
        var state = SharingState(owner: anna)
        state.set(stick, .everyone)
        state.set(mouse, .only([anna, ben]))
        state.set(DeviceKey(vendor: 1, product: 2, place: .port("2-1")), .unshared)
        #expect(try SharingState(parsing: state.text, path: "sharing") == state)
        #expect(state.text.contains("shared 0781:5581 serial=4C530001\n"))
        #expect(state.text.contains("shared 046d:c52b port=1-1.3 for \(anna) \(ben)\n"))
    }

    @Test func aDeviceSetAgainKeepsOnlyItsLastShare() {
        var state = SharingState()
        state.set(stick, .everyone)
        state.set(stick, .unshared)
        #expect(state.devices.count == 1 && state.share(of: stick) == .unshared)
    }

    @Test func theOldestDevicesGoPastTheLimit() {
        var state = SharingState()
        for port in 0...SharingState.maxDevices {
            state.set(DeviceKey(vendor: 1, product: 1, place: .port("1-\(port)")), .everyone)
        }
        #expect(state.devices.count == SharingState.maxDevices)
        #expect(state.share(of: DeviceKey(vendor: 1, product: 1, place: .port("1-0"))) == nil)
    }

    @Test func aWindowsEditedFileWithCommentsReads() throws {
        let text = "# notes\r\nowner \(anna)\r\n\r\nunshared 0781:5581 serial=4C530001\r\n"
        let state = try SharingState(parsing: text, path: "sharing")
        #expect(state.owner == anna && state.share(of: stick) == .unshared)
    }

    @Test(arguments: [
        ("owner", "line 1: expected 'owner ENDPOINTID'"),
        ("owner nonsense", "line 1: the owner is"),
        ("shared 0781:5581", "line 1: expected 'shared VVVV:PPPP serial=SERIAL'"),
        ("shared 0781:5581 place=1", "line 1: expected 'shared"),
        ("shared 078:5581 port=1-1", "line 1: expected 'shared"),
        ("shared 0781:5581 port=1/1", "line 1: expected 'shared"),
        ("unshared 0781:5581 port=1-1 for x", "line 1: 'unshared' takes only the device"),
        ("shared 0781:5581 port=1-1 with x", "line 1: expected 'for' and EndpointIds"),
        ("shared 0781:5581 port=1-1 for", "line 1: expected 'for' and EndpointIds"),
        ("shared 0781:5581 port=1-1 for abc", "line 1: 'abc' is"),
        ("lent 0781:5581 port=1-1", "line 1: 'lent' is not owner, shared or unshared"),
    ])
    func aBadLineIsRefusedWithItsNumberAndWhy(line: String, message: String) {
        do {
            _ = try SharingState(parsing: line, path: "sharing")
            Issue.record("'\(line)' was accepted")
        } catch {
            #expect("\(error)".hasPrefix("sharing, \(message)"), "\(error)")
        }
    }

    @Test func aMissingFileIsAnEmptyState() throws {
        #expect(try SharingState.load(from: "/nonexistent/usbp2p/sharing") == SharingState())
    }

    @Test func savedStateLoadsAndIsTheServicesAlone() throws {
        let path = scratchDirectory("sharing") + "/sharing"
        var state = SharingState(owner: ben)
        state.set(mouse, .everyone)
        try state.save(to: path)
        #expect(try SharingState.load(from: path) == state)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
    }
}
