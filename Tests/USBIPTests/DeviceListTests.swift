import Testing

@testable import USBIP

/// OP_REQ_DEVLIST and OP_REP_DEVLIST against byte layouts written from the tables of
/// Documentation/usb/usbip_protocol.rst.
@Suite struct DeviceListTests {
    @Test func requestIsVersionCodeAndZeroStatus() throws {
        let golden = hexBytes("0111 8005 00000000")
        #expect(USBIPMessage.requestDeviceList.encoded == golden)
        #expect(try USBIPMessage.decodeWhole(golden, receiver: .server) == .requestDeviceList)
    }

    @Test func emptyReplyEndsAfterTheCount() throws {
        let golden = hexBytes("0111 0005 00000000 00000000")
        let message = USBIPMessage.replyDeviceList(status: .ok, devices: [])
        #expect(message.encoded == golden)
        #expect(try USBIPMessage.decodeWhole(golden, receiver: .client) == message)
    }

    @Test func replyDescribesEachDeviceAndItsInterfaces() throws {
        var golden = hexBytes("0111 0005 00000000 00000001")
        golden += Array("/sys/devices/platform/dummy_hcd.0/usb1/1-1".utf8)
        golden += [UInt8](repeating: 0, count: 256 - 42)
        golden += Array("1-1".utf8) + [UInt8](repeating: 0, count: 29)
        golden += hexBytes(
            """
            00000001 00000002 00000003  1a0a badd 0610  00 00 00  01 02 01
            ff 00 00 00
            """)
        #expect(golden.count == 12 + 312 + 4)
        let message = USBIPMessage.replyDeviceList(status: .ok, devices: [Samples.sourceSink])
        #expect(message.encoded == golden)
        #expect(try USBIPMessage.decodeWhole(golden, receiver: .client) == message)
    }

    @Test func secondDeviceStartsAfterTheFirstDevicesInterfaces() throws {
        let message = USBIPMessage.replyDeviceList(status: .ok, devices: [Samples.storage, Samples.sourceSink])
        let bytes = message.encoded
        // 0xC + i*0x138 + m_(i-1)*4, per the protocol document, with m_0 = 2.
        let second = 0xC + 0x138 + 2 * 4
        #expect(Array(bytes[second..<second + 4]) == Array("/sys".utf8))
        #expect(try USBIPMessage.decodeWhole(bytes, receiver: .client) == message)
    }

    @Test func failedReplyCarriesNoList() throws {
        let golden = hexBytes("0111 0005 00000005")
        #expect(
            try USBIPMessage.decodeWhole(golden, receiver: .client) == .replyDeviceList(status: .error, devices: []))
    }

    @Test func countBeyondTheLimitIsRefusedBeforeWaitingForDevices() {
        let bytes = hexBytes("0111 0005 00000000 ffffffff")
        #expect(throws: USBIPError.tooManyDevices(count: 0xffff_ffff, limit: 256)) {
            try USBIPMessage.decodeWhole(bytes, receiver: .client)
        }
    }

    @Test func moreThan32InterfacesIsRefused() {
        var bytes = USBIPMessage.replyDeviceList(status: .ok, devices: [Samples.sourceSink]).encoded
        bytes[12 + 311] = 33  // bNumInterfaces
        #expect(throws: USBIPError.tooManyInterfaces(count: 33, limit: 32)) {
            try USBIPMessage.decodeWhole(bytes, receiver: .client)
        }
    }

    @Test func speedOutsideTheKernelsEnumIsRefused() {
        var bytes = USBIPMessage.replyDeviceList(status: .ok, devices: [Samples.sourceSink]).encoded
        bytes[12 + 0x128 + 3] = 9
        #expect(throws: USBIPError.invalidSpeed(9)) { try USBIPMessage.decodeWhole(bytes, receiver: .client) }
    }

    @Test func unterminatedPathIsRefused() {
        var bytes = USBIPMessage.replyDeviceList(status: .ok, devices: [Samples.sourceSink]).encoded
        for i in 12..<(12 + 256) { bytes[i] = UInt8(ascii: "a") }
        #expect(throws: USBIPError.unterminatedString(field: .path)) {
            try USBIPMessage.decodeWhole(bytes, receiver: .client)
        }
    }

    @Test func busidThatIsNotUTF8IsRefused() {
        var bytes = USBIPMessage.replyDeviceList(status: .ok, devices: [Samples.sourceSink]).encoded
        bytes[12 + 256] = 0xff
        #expect(throws: USBIPError.invalidString(field: .busid)) {
            try USBIPMessage.decodeWhole(bytes, receiver: .client)
        }
    }

    @Test func aServerNeverAcceptsAReply() {
        #expect(throws: USBIPError.unexpectedMessage(.replyDeviceList, receiver: .server)) {
            try USBIPMessage.decodeWhole(hexBytes("0111 0005 00000000 00000000"), receiver: .server)
        }
        #expect(throws: USBIPError.unexpectedMessage(.requestDeviceList, receiver: .client)) {
            try USBIPMessage.decodeWhole(hexBytes("0111 8005 00000000"), receiver: .client)
        }
    }

    @Test func otherVersionsAndCodesAreRefused() {
        #expect(throws: USBIPError.unsupportedVersion(0x0106)) {
            try USBIPMessage.decodeWhole(hexBytes("0106 8005 00000000"), receiver: .server)
        }
        #expect(throws: USBIPError.unknownOperation(0x8004)) {
            try USBIPMessage.decodeWhole(hexBytes("0111 8004 00000000"), receiver: .server)
        }
    }

    @Test func devidCombinesBusAndDeviceNumbers() {
        #expect(Samples.sourceSink.devid == 0x0001_0002)
    }

    @Test func namesThatDoNotFitTheirFieldsAreRejectedAtConstruction() {
        let long = String(repeating: "x", count: 32)
        #expect(
            ExportedDevice(
                path: "/p", busid: long, busnum: 1, devnum: 1, speed: .high, idVendor: 0,
                idProduct: 0, bcdDevice: 0, bDeviceClass: 0, bDeviceSubClass: 0,
                bDeviceProtocol: 0, bConfigurationValue: 1, bNumConfigurations: 1,
                bNumInterfaces: 0) == nil)
    }
}
