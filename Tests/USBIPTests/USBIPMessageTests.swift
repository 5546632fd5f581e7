import Testing

@testable import USBIP

/// Properties every message has: it round-trips, and any prefix of it is "need more bytes".
@Suite struct USBIPMessageTests {
    @Test(arguments: Samples.all.indices)
    func everyMessageRoundTrips(index: Int) throws {
        let (receiver, message, direction) = Samples.all[index]
        let bytes = message.encoded
        let decoded = try USBIPMessage.decodeWhole(bytes, receiver: receiver, direction: direction)
        #expect(decoded == message)
        #expect(decoded?.encoded == bytes)
    }

    @Test(arguments: Samples.all.indices)
    func everyTruncationPointNeedsMoreBytes(index: Int) throws {
        let (receiver, message, direction) = Samples.all[index]
        let bytes = message.encoded
        for length in 0..<bytes.count {
            let result = try USBIPMessage.decode(
                from: bytes[0..<length], receiver: receiver, requestDirection: { _ in direction })
            #expect(result == nil, "prefix of \(length) of \(bytes.count) bytes of \(message.kind) decoded")
        }
    }

    @Test(arguments: Samples.all.indices)
    func everyMessagesPartsJoinToItsBytes(index: Int) {
        let (_, message, _) = Samples.all[index]
        #expect(Array(message.encodedParts.joined()) == message.encoded)
    }

    @Test(arguments: Samples.all.indices)
    func everyURBMessageKnowsItsWireLengthBeforeEncoding(index: Int) {
        let (_, message, _) = Samples.all[index]
        switch message {
        case .submit, .submitReply, .unlink, .unlinkReply: #expect(message.urbPhaseLength == message.encoded.count)
        default: #expect(message.urbPhaseLength == nil)
        }
    }

    @Test func aLargeReplysDataIsAPartOfItsOwnTheDataAsItLies() {
        let data = (0..<65536).map { UInt8(truncatingIfNeeded: $0) }
        let reply = SubmitReply(seqnum: 7, status: 0, actualLength: 65536, transferBuffer: data[4096...])
        let parts = USBIPMessage.submitReply(reply).encodedParts
        #expect(parts.count == 2)
        #expect(parts.first?.count == 48)
        #expect(parts.last?.startIndex == 4096)  // the slice it was given, not a copy
        #expect(Array(parts.joined()) == USBIPMessage.submitReply(reply).encoded)
        // A short reply's data rides in one piece with its header.
        let short = SubmitReply(seqnum: 8, status: 0, actualLength: 18, transferBuffer: data[0..<18])
        #expect(USBIPMessage.submitReply(short).encodedParts.count == 1)
    }

    @Test func decodingReadsOnlyItsOwnMessage() throws {
        let (_, first, _) = Samples.all[0]
        let (_, second, _) = Samples.all[4]
        let bytes = first.encoded + second.encoded
        let result = try USBIPMessage.decode(from: bytes[...], receiver: .server)
        #expect(result?.message == first)
        #expect(result?.consumed == first.encoded.count)
    }

    @Test func payloadsShareTheInputsStorage() throws {
        let bytes = SubmitCommandTests.capturedInterruptOut
        guard case .submit(let submit)? = try USBIPMessage.decodeWhole(bytes, receiver: .server) else {
            Issue.record("not a submit")
            return
        }
        #expect(submit.transferBuffer.startIndex == 48)  // a slice of the input, not a copy
    }

    @Test func kindsAndReceiversMatchTheProtocol() {
        for (receiver, message, _) in Samples.all { #expect(message.receiver == receiver) }
        #expect(USBIPMessage.requestDeviceList.kind.description == "OP_REQ_DEVLIST")
    }

    @Test func errorsDescribeTheOffendingValue() {
        #expect(USBIPError.unsupportedVersion(0x0106).description.contains("0x0106"))
        #expect(USBIPError.transferTooLarge(length: 99, limit: 10).description.contains("99"))
        #expect(USBIPError.unknownSeqnum(7).description.contains("7"))
    }
}
