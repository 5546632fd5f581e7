import Testing

@testable import USBIP

/// USBIP_RET_SUBMIT, with the captured replies of the protocol document's EXAMPLE.
@Suite struct SubmitReplyTests {
    /// RetIntrOut of the protocol document's example: no data follows an OUT reply.
    static let capturedOutReply = hexBytes(
        """
        00000003 00000d06 00000000 00000000 00000000 00000000 00000040 ffffffff 00000000 00000000 00000000 00000000
        """)
    /// RetIntrIn of the protocol document's example, with the 64 bytes read.
    static let capturedInReply = hexBytes(
        """
        00000003 00000d05 00000000 00000000 00000000 00000000 00000040 ffffffff 00000000 00000000 00000000 00000000
        ffffffff860011a784ce5ae2123763612891b1020100000400000000000000000000000000000000000000000000000000000000000000000000000000000000
        """)

    @Test func outReplyCarriesOnlyTheLengthWritten() throws {
        let message = try USBIPMessage.decodeWhole(Self.capturedOutReply, receiver: .client, direction: .out)
        guard case .submitReply(let reply)? = message else {
            Issue.record("not a reply")
            return
        }
        #expect(reply.seqnum == 0xd06)
        #expect(reply.status == 0)
        #expect(reply.actualLength == 64)
        #expect(reply.transferBuffer.isEmpty)
        #expect(message?.encoded == Self.capturedOutReply)
    }

    @Test func inReplyCarriesActualLengthBytes() throws {
        let message = try USBIPMessage.decodeWhole(Self.capturedInReply, receiver: .client, direction: .in)
        guard case .submitReply(let reply)? = message else {
            Issue.record("not a reply")
            return
        }
        #expect(reply.transferBuffer.count == 64)
        #expect(Array(reply.transferBuffer.prefix(6)) == hexBytes("ffffffff8600"))
        #expect(message?.encoded == Self.capturedInReply)
    }

    @Test func theSameBytesFrameDifferentlyByTheRequestsDirection() throws {
        // Read as the reply to an OUT request, the 48-byte header is the whole message.
        let asOut = try USBIPMessage.decode(
            from: Self.capturedInReply[...], receiver: .client, requestDirection: { _ in .out })
        #expect(asOut?.consumed == 48)
    }

    @Test func replyToNoRequestInFlightIsRefused() {
        #expect(throws: USBIPError.unknownSeqnum(0xd05)) {
            try USBIPMessage.decodeWhole(Self.capturedInReply, receiver: .client, direction: nil)
        }
    }

    @Test func isoActualLengthsMustAddUpToTheReplysActualLength() {
        var reply = SubmitReply(
            seqnum: 1, status: 0, actualLength: 10, numberOfPackets: 1,
            transferBuffer: ArraySlice(repeating: 1, count: 10))
        reply.isoPacketDescriptors = ISOPacketDescriptors([ISOPacketDescriptor(offset: 0, length: 64, actualLength: 9)])
        #expect(throws: USBIPError.isoLengthMismatch(sum: 9, actualLength: 10)) {
            try USBIPMessage.decodeWhole(USBIPMessage.submitReply(reply).encoded, receiver: .client, direction: .in)
        }
    }

    @Test func overfilledIsoPacketIsRefused() {
        var reply = SubmitReply(
            seqnum: 1, status: 0, actualLength: 10, numberOfPackets: 1,
            transferBuffer: ArraySlice(repeating: 1, count: 10))
        reply.isoPacketDescriptors = ISOPacketDescriptors([ISOPacketDescriptor(offset: 0, length: 8, actualLength: 10)])
        #expect(throws: USBIPError.isoPacketOverfilled(index: 0, actualLength: 10, length: 8)) {
            try USBIPMessage.decodeWhole(USBIPMessage.submitReply(reply).encoded, receiver: .client, direction: .in)
        }
    }

    @Test func hugeActualLengthIsRefusedBeforeWaitingForIt() {
        var bytes = Self.capturedInReply
        bytes.replaceSubrange(24..<28, with: hexBytes("ffffffff"))
        #expect(throws: USBIPError.actualLengthTooLarge(actualLength: 0xffff_ffff, limit: 8 << 20)) {
            try USBIPMessage.decode(from: bytes[...], receiver: .client, requestDirection: { _ in .in })
        }
    }

    @Test func negativeStatusRoundTrips() throws {
        let reply = USBIPMessage.submitReply(SubmitReply(seqnum: 3, status: -32, actualLength: 0))
        #expect(try USBIPMessage.decodeWhole(reply.encoded, receiver: .client, direction: .in) == reply)
    }

    @Test func aReplyAnnouncesOnlyTheIsoDescriptorsItCarries() throws {
        // An iso count with no descriptors (an error reply built carelessly) must not
        // trap, nor announce packets the receiver would then read from the next message.
        let careless = SubmitReply(seqnum: 4, status: -2, actualLength: 0, numberOfPackets: 3)
        let bytes = USBIPMessage.submitReply(careless).encoded
        #expect(bytes.count == 48)
        #expect(Array(bytes[32..<36]) == [0xFF, 0xFF, 0xFF, 0xFF])
        let withTwo = SubmitReply(
            seqnum: 5, status: 0, actualLength: 0, numberOfPackets: 7,
            isoPacketDescriptors: ISOPacketDescriptors([
                ISOPacketDescriptor(offset: 0, length: 8), ISOPacketDescriptor(offset: 8, length: 8),
            ]))
        let decoded = try USBIPMessage.decodeWhole(
            USBIPMessage.submitReply(withTwo).encoded, receiver: .client, direction: .in)
        guard case .submitReply(let reply) = decoded else {
            Issue.record("not a RET_SUBMIT")
            return
        }
        #expect(reply.numberOfPackets == 2 && reply.isoPacketDescriptors.count == 2)
    }
}
