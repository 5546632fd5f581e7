import Testing

@testable import USBIP

/// OP_REQ_IMPORT and OP_REP_IMPORT against the protocol document's tables.
@Suite struct ImportTests {
    @Test func requestCarriesTheZeroPaddedBusid() throws {
        let golden = hexBytes("0111 8003 00000000") + Array("1-1".utf8) + [UInt8](repeating: 0, count: 29)
        #expect(USBIPMessage.requestImport(busid: "1-1").encoded == golden)
        #expect(try USBIPMessage.decodeWhole(golden, receiver: .server) == .requestImport(busid: "1-1"))
    }

    @Test func okReplyCarriesTheDeviceWithoutInterfaces() throws {
        var device = Samples.sourceSink
        device.interfaces = []
        let bytes = USBIPMessage.replyImport(status: .ok, device: device).encoded
        #expect(bytes.count == 8 + 312)
        #expect(Array(bytes[0..<8]) == hexBytes("0111 0003 00000000"))
        // busid at 0x108 of the message, idVendor at 0x134 (protocol document offsets).
        #expect(Array(bytes[0x108..<0x10B]) == Array("1-1".utf8))
        #expect(Array(bytes[0x134..<0x138]) == hexBytes("1a0a badd"))
        #expect(try USBIPMessage.decodeWhole(bytes, receiver: .client) == .replyImport(status: .ok, device: device))
    }

    @Test func failedReplyEndsWithTheStatus() throws {
        let golden = hexBytes("0111 0003 00000002")
        #expect(USBIPMessage.replyImport(status: .deviceBusy, device: nil).encoded == golden)
        #expect(
            try USBIPMessage.decodeWhole(golden, receiver: .client) == .replyImport(status: .deviceBusy, device: nil))
    }

    @Test func statusesReadAsTheirMeaning() {
        #expect(OpStatus.deviceBusy.description == "device busy")
        #expect(OpStatus.noDevice.description == "device not found")
        #expect(OpStatus(rawValue: 77).description == "status 77")
    }

    @Test func busidWithoutTerminatorIsRefused() {
        let bytes = hexBytes("0111 8003 00000000") + [UInt8](repeating: 0x31, count: 32)
        #expect(throws: USBIPError.unterminatedString(field: .busid)) {
            try USBIPMessage.decodeWhole(bytes, receiver: .server)
        }
    }
}
