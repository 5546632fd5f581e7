import Testing

@testable import USBIP

/// USBIP_CMD_SUBMIT. The golden frames are the HID captures of the EXAMPLE section of
/// Documentation/usb/usbip_protocol.rst.
@Suite struct SubmitCommandTests {
    /// CmdIntrIN of the protocol document's example.
    static let capturedInterruptIn = hexBytes(
        """
        00000001 00000d05 0001000f 00000001 00000001 00000200 00000040 ffffffff 00000000 00000004 00000000 00000000
        """)
    /// CmdIntrOUT of the protocol document's example, with its 64 bytes of data.
    static let capturedInterruptOut = hexBytes(
        """
        00000001 00000d06 0001000f 00000000 00000001 00000000 00000040 ffffffff 00000000 00000004 00000000 00000000
        ffffffff860008a784ce5ae212376300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
        """)

    @Test func capturedInterruptInDecodesFieldByField() throws {
        let message = try USBIPMessage.decodeWhole(Self.capturedInterruptIn, receiver: .server)
        guard case .submit(let submit)? = message else {
            Issue.record("not a submit: \(String(describing: message))")
            return
        }
        #expect(submit.seqnum == 0xd05)
        #expect(submit.devid == 0x0001_000f)
        #expect(submit.direction == .in)
        #expect(submit.ep == 1)
        #expect(submit.transferFlags == 0x200)
        #expect(submit.transferBufferLength == 64)
        #expect(submit.startFrame == -1)
        #expect(submit.numberOfPackets == 0)  // the kernel sends 0, not 0xffffffff, for non-iso URBs
        #expect(!submit.isISO)
        #expect(submit.interval == 4)
        #expect(submit.setup == .zero)
        #expect(submit.transferBuffer.isEmpty)
        #expect(message?.encoded == Self.capturedInterruptIn)
    }

    @Test func capturedInterruptOutCarriesItsData() throws {
        guard case .submit(let submit)? = try USBIPMessage.decodeWhole(Self.capturedInterruptOut, receiver: .server)
        else {
            Issue.record("not a submit")
            return
        }
        #expect(submit.direction == .out)
        #expect(submit.transferBuffer.count == 64)
        #expect(Array(submit.transferBuffer.prefix(4)) == [0xff, 0xff, 0xff, 0xff])
        #expect(USBIPMessage.submit(submit).encoded == Self.capturedInterruptOut)
    }

    @Test func setupPacketFieldsAreLittleEndianInsideTheBigEndianHeader() throws {
        // GET_DESCRIPTOR(device, 64 bytes), as vhci sends first (shared/notes).
        let bytes = hexBytes(
            """
            00000001 00000001 00000000 00000001 00000000 00000000 00000040 00000000 00000000 00000000
            8006000100004000
            """)
        guard case .submit(let submit)? = try USBIPMessage.decodeWhole(bytes, receiver: .server)
        else {
            Issue.record("not a submit")
            return
        }
        #expect(submit.setup == SetupPacket(bmRequestType: 0x80, bRequest: 6, wValue: 0x0100, wIndex: 0, wLength: 64))
        #expect(submit.setup.bytes == hexBytes("8006000100004000"))
        #expect(USBIPMessage.submit(submit).encoded == bytes)
    }

    @Test func isoDescriptorsFollowTheData() throws {
        let (_, message, _) = Samples.all[10]
        let bytes = message.encoded
        #expect(bytes.count == 48 + 384 + 2 * 16)
        #expect(Array(bytes[(48 + 384)...].prefix(16)) == hexBytes("00000000 000000c0 00000000 00000000"))
        #expect(try USBIPMessage.decodeWhole(bytes, receiver: .server) == message)
    }

    @Test func commandKeptInFlightHoldsNoneOfTheDecodedBytes() throws {
        // The iso sample carries OUT data and descriptors: both are slices of `bytes`.
        let (_, message, _) = Samples.all[10]
        let bytes = message.encoded
        guard case .submit(let submit)? = try USBIPMessage.decodeWhole(bytes, receiver: .server) else {
            Issue.record("not a submit")
            return
        }
        let kept = submit.withoutDecoderStorage
        #expect(kept.transferBuffer.isEmpty)
        #expect(Array(kept.isoPacketDescriptors) == Array(submit.isoPacketDescriptors))
        var restored = kept
        restored.transferBuffer = submit.transferBuffer
        restored.isoPacketDescriptors = submit.isoPacketDescriptors
        #expect(restored == submit)
        let decoded = bytes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        let keptAt = kept.isoPacketDescriptors.wireBytes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        let originalAt = submit.isoPacketDescriptors.wireBytes.withUnsafeBufferPointer {
            UInt(bitPattern: $0.baseAddress)
        }
        let range = decoded..<(decoded + UInt(bytes.count))
        #expect(range.contains(originalAt))
        #expect(!range.contains(keptAt))
    }

    @Test func inSubmitWaitsForNoData() throws {
        // An IN submit of 64 KiB is whole at 48 bytes.
        var bytes = Self.capturedInterruptIn
        bytes.replaceSubrange(24..<28, with: hexBytes("00010000"))
        #expect(try USBIPMessage.decodeWhole(bytes, receiver: .server) != nil)
    }

    @Test func negativeOrHugeLengthsAreRefusedWithoutWaitingForThem() {
        for length: UInt32 in [0x7fff_ffff, 0xffff_ffff, (8 << 20) + 1] {
            var bytes = Self.capturedInterruptOut
            bytes.replaceSubrange(
                24..<28,
                with: [
                    UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff),
                ])
            #expect(throws: USBIPError.transferTooLarge(length: length, limit: 8 << 20)) {
                try USBIPMessage.decode(from: bytes[...], receiver: .server)
            }
        }
    }

    @Test func directionOtherThanInOrOutIsRefused() {
        var bytes = Self.capturedInterruptIn
        bytes[15] = 2
        #expect(throws: USBIPError.invalidDirection(2)) { try USBIPMessage.decodeWhole(bytes, receiver: .server) }
    }

    @Test func endpointAbove15IsRefused() {
        var bytes = Self.capturedInterruptIn
        bytes[19] = 16
        #expect(throws: USBIPError.invalidEndpoint(16)) { try USBIPMessage.decodeWhole(bytes, receiver: .server) }
    }

    @Test func isoCountBeyond1024IsRefused() {
        var bytes = Self.capturedInterruptIn
        bytes.replaceSubrange(32..<36, with: hexBytes("00000401"))
        #expect(throws: USBIPError.tooManyISOPackets(count: 1025, limit: 1024)) {
            try USBIPMessage.decode(from: bytes[...], receiver: .server)
        }
        bytes.replaceSubrange(32..<36, with: hexBytes("80000000"))
        #expect(throws: USBIPError.tooManyISOPackets(count: 0x8000_0000, limit: 1024)) {
            try USBIPMessage.decode(from: bytes[...], receiver: .server)
        }
    }

    @Test func isoPacketOutsideTheBufferIsRefused() {
        var submit = SubmitCommand(
            seqnum: 1, devid: 1, direction: .in, ep: 1, transferBufferLength: 100,
            numberOfPackets: 1)
        submit.isoPacketDescriptors = ISOPacketDescriptors([ISOPacketDescriptor(offset: 50, length: 51)])
        #expect(throws: USBIPError.isoPacketOutOfBounds(index: 0, offset: 50, length: 51, bufferLength: 100)) {
            try USBIPMessage.decodeWhole(USBIPMessage.submit(submit).encoded, receiver: .server)
        }
        // offset + length overflowing 32 bits is out of bounds too, not a wrap-around.
        submit.isoPacketDescriptors = ISOPacketDescriptors([ISOPacketDescriptor(offset: 0xffff_fff0, length: 0x20)])
        #expect(throws: USBIPError.self) {
            try USBIPMessage.decodeWhole(USBIPMessage.submit(submit).encoded, receiver: .server)
        }
    }

    @Test func aClientNeverAcceptsASubmit() {
        #expect(throws: USBIPError.unexpectedMessage(.submit, receiver: .client)) {
            try USBIPMessage.decodeWhole(Self.capturedInterruptIn, receiver: .client)
        }
    }
}
