import DeviceChoice
import Identity
import Testing
import USBIP

@Suite struct DeviceChoiceTests {
    static func device(
        _ busid: String, _ vendor: UInt16, _ product: UInt16, interfaces: [(UInt8, UInt8, UInt8)] = [(8, 6, 80)]
    ) -> ExportedDevice {
        ExportedDevice(
            path: "/sys/devices/\(busid)", busid: busid, busnum: 1, devnum: 2, speed: .high, idVendor: vendor,
            idProduct: product, bcdDevice: 0x100, bDeviceClass: 0, bDeviceSubClass: 0, bDeviceProtocol: 0,
            bConfigurationValue: 1, bNumConfigurations: 1, bNumInterfaces: UInt8(interfaces.count),
            interfaces: interfaces.map {
                InterfaceSummary(bInterfaceClass: $0.0, bInterfaceSubClass: $0.1, bInterfaceProtocol: $0.2)
            })!
    }

    let stick = device("1-1", 0x0781, 0x5583)
    let keyboard = device("1-2", 0x046d, 0xc31c, interfaces: [(3, 1, 1)])
    /// A stick that also declares a boot keyboard interface (as a "BadUSB" device does).
    let stickWithAKeyboard = device("1-3", 0x1234, 0x5678, interfaces: [(8, 6, 80), (3, 1, 1)])
    let mouse = device("1-4", 0x046d, 0xc077, interfaces: [(3, 1, 2)])
    let later = device("1-5", 0x0951, 0x1666)
    let names = ["1-1": "SanDisk Ultra", "1-2": "Logitech Keyboard K120", "1-5": "Kingston DataTraveler"]

    func attached(_ decision: DeviceChoice.Decision) -> [String] { decision.attach.map(\.busid) }

    @Test func everyDeviceNowLeavesOutKeyboardsAndSaysHowToNameThem() {
        var choice = DeviceChoice(scope: .everyDeviceNow)
        let decision = choice.decide(offered: [stick, keyboard, stickWithAKeyboard, mouse], name: { names[$0] })
        #expect(attached(decision) == ["1-1", "1-4"])
        #expect(decision.skipped.map(\.device.busid) == ["1-2", "1-3"])
        #expect(decision.skipped[0].reason.contains("attach 046d:c31c"))
    }

    @Test func everyDeviceNowDoesNotTakeADevicePluggedInLater() {
        var choice = DeviceChoice(scope: .everyDeviceNow)
        _ = choice.decide(offered: [stick], name: { names[$0] })
        let decision = choice.decide(offered: [stick, later], name: { names[$0] })
        #expect(attached(decision) == ["1-1"])
        #expect(decision.skipped.map(\.device.busid) == ["1-5"])
        #expect(decision.skipped[0].reason.contains("--including-new"))
        // Gone and back (the server restarted): the same device is still wanted.
        #expect(attached(choice.decide(offered: [], name: { names[$0] })).isEmpty)
        #expect(attached(choice.decide(offered: [later, stick], name: { names[$0] })) == ["1-1"])
    }

    @Test func aDifferentDeviceInTheSamePortIsNotTheOneChosen() {
        var choice = DeviceChoice(scope: .everyDeviceNow)
        _ = choice.decide(offered: [stick], name: { names[$0] })
        let swapped = Self.device("1-1", 0x0951, 0x1666)
        #expect(attached(choice.decide(offered: [swapped], name: { names[$0] })).isEmpty)
    }

    @Test func includingNewTakesLaterDevicesButStillNoKeyboard() {
        var choice = DeviceChoice(scope: .everyDeviceIncludingNew)
        _ = choice.decide(offered: [stick], name: { names[$0] })
        let decision = choice.decide(offered: [stick, later, keyboard], name: { names[$0] })
        #expect(attached(decision) == ["1-1", "1-5"])
        #expect(decision.skipped.map(\.device.busid) == ["1-2"])
    }

    @Test func aNamedKeyboardIsAttachedByIdsBusIdOrName() {
        for selector in ["046d:c31c", "1-2", "k120"] {
            var choice = DeviceChoice(scope: .named([DeviceSelector.parse(selector)]))
            let decision = choice.decide(offered: [stick, keyboard], name: { names[$0] })
            #expect(attached(decision) == ["1-2"], "\(selector)")
            #expect(decision.skipped.isEmpty)
        }
    }

    @Test func aNamedDevicePluggedInLaterIsAttachedWhenItComes() {
        var choice = DeviceChoice(scope: .named([.name("kingston")]))
        #expect(attached(choice.decide(offered: [stick], name: { names[$0] })).isEmpty)
        #expect(attached(choice.decide(offered: [stick, later], name: { names[$0] })) == ["1-5"])
    }

    @Test func aServersWishesCombineNamedDevicesAndEveryDevice() {
        let pi = EndpointIdentity.generate().endpointId
        var named = DeviceChoice.of([Wish(server: pi, what: .device(.name("kingston")))])
        #expect(attached(named.decide(offered: [stick, later, keyboard], name: { names[$0] })) == ["1-5"])
        var both = DeviceChoice.of([
            Wish(server: pi, what: .device(.ids(vendor: 0x046d, product: 0xc31c))),
            Wish(server: pi, what: .everyDeviceIncludingNew),
        ])
        let decision = both.decide(offered: [stick, keyboard, stickWithAKeyboard], name: { names[$0] })
        #expect(attached(decision) == ["1-1", "1-2"])  // the keyboard because it is named
        #expect(decision.skipped.map(\.device.busid) == ["1-3"])
    }

    @Test func selectorsParseBusIdsIdsAndNames() {
        #expect(DeviceSelector.parse("3-2.4") == .busid("3-2.4"))
        #expect(DeviceSelector.parse("046D:C52B") == .ids(vendor: 0x046d, product: 0xc52b))
        #expect(DeviceSelector.parse("SanDisk") == .name("SanDisk"))
        #expect(DeviceSelector.parse("12:34") == .name("12:34"))
        #expect(DeviceSelector.ids(vendor: 0x46d, product: 0xc52b).description == "046d:c52b")
    }
}
