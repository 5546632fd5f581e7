import Testing

@testable import USBIP

/// A corpus of hostile and broken input: each gives its typed error, never a trap or a
/// large allocation. A URB header is judged once its 48 bytes are in (a bounded wait);
/// a length or count in it is refused before any payload is waited for.
@Suite struct MalformedInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let receiver: USBIPSide
        let bytes: [UInt8]
        let error: USBIPError
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "old version", receiver: .server, bytes: hexBytes("0100 8005 00000000"),
            error: .unsupportedVersion(0x0100)),
        Case(
            name: "HTTP request", receiver: .server, bytes: Array("GET / HTTP/1.1\r\n".utf8),
            error: .unsupportedVersion(0x4745)),
        Case(
            name: "TLS client hello", receiver: .server, bytes: hexBytes("16030100a5010000a10303"),
            error: .unsupportedVersion(0x1603)),
        Case(
            name: "unknown op", receiver: .server, bytes: hexBytes("0111 8001 00000000"),
            error: .unknownOperation(0x8001)),
        Case(name: "unknown URB command", receiver: .server, bytes: hexBytes("00000007"), error: .unknownCommand(7)),
        Case(
            name: "reply sent to a server", receiver: .server, bytes: SubmitReplyTests.capturedOutReply,
            error: .unexpectedMessage(.submitReply, receiver: .server)),
        Case(
            name: "unlink reply sent to a server", receiver: .server, bytes: hexBytes("00000004"),
            error: .unexpectedMessage(.unlinkReply, receiver: .server)),
        Case(
            name: "import request sent to a client", receiver: .client, bytes: hexBytes("0111 8003"),
            error: .unexpectedMessage(.requestImport, receiver: .client)),
        Case(
            name: "transfer length -1", receiver: .server,
            bytes: hexBytes(
                "00000001 00000001 00010002 00000000 00000001 00000000 ffffffff 00000000 ffffffff 00000000 0000000000000000"
            ),
            error: .transferTooLarge(length: 0xffff_ffff, limit: 8 << 20)),
        Case(
            name: "transfer length 0x7fffffff", receiver: .server,
            bytes: hexBytes(
                "00000001 00000001 00010002 00000000 00000001 00000000 7fffffff 00000000 ffffffff 00000000 0000000000000000"
            ),
            error: .transferTooLarge(length: 0x7fff_ffff, limit: 8 << 20)),
        Case(
            name: "negative iso count", receiver: .server,
            bytes: hexBytes(
                "00000001 00000001 00010002 00000001 00000001 00000000 00000100 00000000 fffffffe 00000000 0000000000000000"
            ),
            error: .tooManyISOPackets(count: 0xffff_fffe, limit: 1024)),
        Case(
            name: "direction 0x100", receiver: .server,
            bytes: hexBytes(
                "00000001 00000001 00010002 00000100 00000001 00000000 00000000 00000000 ffffffff 00000000 0000000000000000"
            ),
            error: .invalidDirection(0x100)),
        Case(
            name: "device count 2^32-1", receiver: .client, bytes: hexBytes("0111 0005 00000000 ffffffff"),
            error: .tooManyDevices(count: 0xffff_ffff, limit: 256)),
        Case(
            name: "iso count mismatch", receiver: .server,
            bytes: USBIPMessage.submit(
                SubmitCommand(
                    seqnum: 1, devid: 1, direction: .in, ep: 1, transferBufferLength: 8, numberOfPackets: 1,
                    isoPacketDescriptors: ISOPacketDescriptors([ISOPacketDescriptor(offset: 4, length: 8)]))
            ).encoded,
            error: .isoPacketOutOfBounds(index: 0, offset: 4, length: 8, bufferLength: 8)),
    ]

    @Test(arguments: cases)
    func malformedInputGivesItsTypedError(_ c: Case) {
        #expect(throws: c.error) {
            try USBIPMessage.decode(from: c.bytes[...], receiver: c.receiver, requestDirection: { _ in .in })
        }
    }

    @Test func limitsAreConfigurable() throws {
        let tight = USBIPLimits(maxTransferBufferLength: 32, maxISOPackets: 1, maxDevices: 1)
        #expect(throws: USBIPError.transferTooLarge(length: 64, limit: 32)) {
            try USBIPMessage.decode(
                from: SubmitCommandTests.capturedInterruptOut[...], receiver: .server, limits: tight)
        }
        let twoDevices = USBIPMessage.replyDeviceList(status: .ok, devices: [Samples.sourceSink, Samples.storage])
            .encoded
        #expect(throws: USBIPError.tooManyDevices(count: 2, limit: 1)) {
            try USBIPMessage.decode(from: twoDevices[...], receiver: .client, limits: tight)
        }
    }
}
