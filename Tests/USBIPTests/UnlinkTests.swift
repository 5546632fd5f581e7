import Testing

@testable import USBIP

/// USBIP_CMD_UNLINK and USBIP_RET_UNLINK against the protocol document's tables.
@Suite struct UnlinkTests {
    @Test func unlinkNamesTheSubmitToCancel() throws {
        let golden =
            hexBytes("00000002 00000006 00010002 00000000 00000000 00000005") + [UInt8](repeating: 0, count: 24)
        let message = USBIPMessage.unlink(UnlinkCommand(seqnum: 6, devid: 0x0001_0002, unlinkSeqnum: 5))
        #expect(message.encoded == golden)
        #expect(try USBIPMessage.decodeWhole(golden, receiver: .server) == message)
    }

    @Test func unlinkReplyCarriesEconnresetWhenTheURBWasCancelled() throws {
        let golden =
            hexBytes("00000004 00000006 00000000 00000000 00000000 ffffff98") + [UInt8](repeating: 0, count: 24)
        let message = USBIPMessage.unlinkReply(UnlinkReply(seqnum: 6, status: UnlinkReply.statusUnlinked))
        #expect(message.encoded == golden)
        #expect(try USBIPMessage.decodeWhole(golden, receiver: .client) == message)
    }

    @Test func unknownCommandsAreRefusedAsSoonAsTheirFirstWordArrives() {
        for command: UInt32 in [0, 5, 0xffff] {
            let bytes = [
                UInt8(command >> 24), UInt8(command >> 16 & 0xff), UInt8(command >> 8 & 0xff), UInt8(command & 0xff),
            ]
            #expect(throws: USBIPError.unknownCommand(command)) {
                try USBIPMessage.decode(from: bytes[...], receiver: .server)
            }
        }
    }
}
