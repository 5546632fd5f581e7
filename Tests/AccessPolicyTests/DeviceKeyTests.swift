import AccessPolicy
import Testing

@Suite struct DeviceKeyTests {
    @Test func aDeviceWithASerialIsKnownByItWhereverItIsPlugged() {
        let here = DeviceKey(DeviceFacts(busid: "1-1", vendor: 0x0781, product: 0x5581, serial: "4C530001"))
        let there = DeviceKey(DeviceFacts(busid: "1-2.4", vendor: 0x0781, product: 0x5581, serial: "4C530001"))
        #expect(here == there)
        #expect(here.description == "0781:5581 serial=4C530001")
    }

    @Test(arguments: [nil, "", "has space", "caf\u{e9}", String(repeating: "x", count: 127)])
    func aDeviceWithoutAUsableSerialIsKnownByItsPort(serial: String?) {
        let key = DeviceKey(DeviceFacts(busid: "3-2", vendor: 0x046d, product: 0xc52b, serial: serial))
        #expect(key.description == "046d:c52b port=3-2")
    }

    @Test func theTextOfAKeyParsesBackToIt() {
        let key = DeviceKey(vendor: 0x1d6b, product: 0x0104, place: .serial("A1"))
        let words = key.description.split(separator: " ")
        #expect(DeviceKey(words: words) == key)
        #expect(DeviceKey(words: ["1d6b:0104"]) == nil)
        #expect(DeviceKey(words: ["1d6b:0104", "port="]) == nil)
        #expect(DeviceKey(words: ["1d6b:0104", "serial="]) == nil)
        #expect(DeviceKey(words: ["zzzz:0104", "port=1-1"]) == nil)
    }
}
