import ByteBuffers
import Testing

@testable import USBIP

/// The stream decoder against the ways bytes arrive from a socket.
@Suite struct USBIPStreamDecoderTests {
    /// All sample messages a server receives, back to back.
    static var serverStream: (bytes: [UInt8], messages: [USBIPMessage]) {
        let messages = Samples.all.filter { $0.0 == .server }.map(\.1)
        return (messages.flatMap(\.encoded), messages)
    }

    static var clientStream: (bytes: [UInt8], messages: [USBIPMessage], directions: [UInt32: USBIPDirection]) {
        let samples = Samples.all.filter { $0.0 == .client }
        var directions: [UInt32: USBIPDirection] = [:]
        for (_, message, direction) in samples {
            if case .submitReply(let r) = message, let direction { directions[r.seqnum] = direction }
        }
        return (samples.flatMap { $0.1.encoded }, samples.map(\.1), directions)
    }

    @Test func bytesFedOneAtATimeYieldEveryMessageOnce() throws {
        let (bytes, expected) = Self.serverStream
        var decoder = USBIPStreamDecoder(receiver: .server)
        var received: [USBIPMessage] = []
        for byte in bytes {
            decoder.append(CollectionOfOne(byte))
            while let message = try decoder.next() { received.append(message) }
        }
        #expect(received == expected)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func manyMessagesInOneReadAllComeOut() throws {
        let (bytes, expected, directions) = Self.clientStream
        var decoder = USBIPStreamDecoder(receiver: .client)
        decoder.append(bytes)
        var received: [USBIPMessage] = []
        while let message = try decoder.next(requestDirection: { directions[$0] }) { received.append(message) }
        #expect(received == expected)
    }

    @Test(arguments: [2, 7, 48, 49, 1000])
    func readsOfAnySizeYieldTheSameMessages(chunk: Int) throws {
        let (bytes, expected) = Self.serverStream
        var decoder = USBIPStreamDecoder(receiver: .server)
        var received: [USBIPMessage] = []
        var index = 0
        while index < bytes.count {
            decoder.append(bytes[index..<min(index + chunk, bytes.count)])
            index += chunk
            while let message = try decoder.next() { received.append(message) }
        }
        #expect(received == expected)
    }

    @Test func afterAnErrorTheDecoderKeepsRefusing() throws {
        var decoder = USBIPStreamDecoder(receiver: .server)
        decoder.append(hexBytes("00000009"))
        #expect(throws: USBIPError.unknownCommand(9)) { try decoder.next() }
        decoder.append(USBIPMessage.requestDeviceList.encoded)
        #expect(throws: USBIPError.unknownCommand(9)) { try decoder.next() }
    }

    @Test func messagesKeptAcrossAppendsStayIntact() throws {
        var decoder = USBIPStreamDecoder(receiver: .server)
        decoder.append(SubmitCommandTests.capturedInterruptOut)
        let kept = try decoder.next()
        decoder.append(SubmitCommandTests.capturedInterruptOut)  // compacts the buffer
        let again = try decoder.next()
        #expect(kept == again)
        #expect(kept?.encoded == SubmitCommandTests.capturedInterruptOut)
    }

    @Test(arguments: [1, 48, 1000, 100_000])
    func readsStraightIntoTheStorageYieldTheSameMessages(chunk: Int) throws {
        let (bytes, expected) = Self.serverStream
        var decoder = USBIPStreamDecoder(receiver: .server)
        var received: [USBIPMessage] = []
        var index = 0
        while true {
            let n = decoder.read(room: 64) { storage, offset in
                let count = min(chunk, storage.count - offset, bytes.count - index)
                storage[offset..<(offset + count)] = bytes[index..<(index + count)]
                index += count
                return count
            }
            if n == 0 { break }
            while let message = try decoder.next() { received.append(message) }
        }
        #expect(received == expected)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func aMessageKeptAcrossAReadStaysIntact() throws {
        var decoder = USBIPStreamDecoder(receiver: .server)
        let message = SubmitCommandTests.capturedInterruptOut
        func readOne() {
            _ = decoder.read(room: message.count) { storage, offset in
                storage[offset..<(offset + message.count)] = message[...]
                return message.count
            }
        }
        readOne()
        let kept = try decoder.next()
        readOne()  // writes into the storage the kept message's payload shares
        #expect(kept?.encoded == message)
        #expect(try decoder.next()?.encoded == message)
    }
}

/// `takeOUTSubmitHeader`: what it takes, and everything it leaves to `next`.
@Suite struct USBIPStreamDecoderOUTDataTests {
    static func out(_ count: Int, packets: UInt32 = usbipNonISOPacketCount) -> [UInt8] {
        USBIPMessage.submit(
            SubmitCommand(
                seqnum: 9, devid: 0x1_0002, direction: .out, ep: 2, transferBufferLength: UInt32(count),
                numberOfPackets: packets, transferBuffer: (0..<count).map { UInt8(truncatingIfNeeded: $0) }[...],
                isoPacketDescriptors: ISOPacketDescriptors(
                    (0..<isoPacketCount(packets)).map {
                        ISOPacketDescriptor(offset: UInt32($0 * 4096), length: 4096)
                    }))
        ).encoded
    }
    static func lend(_ command: SubmitCommand) -> FixedBytes? {
        FixedBytes(uninitializedCount: Int(command.transferBufferLength))
    }

    @Test func theHeaderAndTheDataThatCameWithItGoToTheBlockAndTheDecoderIsEmpty() throws {
        var decoder = USBIPStreamDecoder(receiver: .server)
        decoder.append(Self.out(8192).prefix(48 + 100))
        #expect(try decoder.next() == nil)
        let took = decoder.takeOUTSubmitHeader(minimum: 4096, lend: Self.lend)
        let taken = try #require(took)
        #expect(taken.command.seqnum == 9 && taken.command.transferBufferLength == 8192)
        #expect(taken.command.transferBuffer.isEmpty)
        #expect(taken.received == 100)
        #expect(taken.data.slice(0..<100).copied() == (0..<100).map { UInt8($0) })
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func everyOtherStreamIsLeftToNext() throws {
        let cases: [(bytes: [UInt8], lend: (SubmitCommand) -> FixedBytes?)] = [
            (Array(Self.out(8192).prefix(47)), Self.lend),  // a header not whole yet
            (Self.out(8192), Self.lend),  // a message already whole
            (Array(Self.out(1024).prefix(100)), Self.lend),  // under the minimum
            (Array(Self.out(8192, packets: 2).prefix(100)), Self.lend),  // iso descriptors follow
            (
                Array(
                    USBIPMessage.submit(
                        SubmitCommand(seqnum: 1, devid: 1, direction: .in, ep: 1, transferBufferLength: 8192)
                    ).encoded + [0]),
                Self.lend
            ),  // an IN URB
            (Array(Self.out(8192).prefix(100)), { _ in nil }),  // no block
            (Array(Self.out(8192).prefix(100)), { _ in FixedBytes(uninitializedCount: 4096) }),  // too small
        ]
        for (bytes, lend) in cases {
            var decoder = USBIPStreamDecoder(receiver: .server)
            decoder.append(bytes)
            _ = try? decoder.next()
            let before = decoder.bufferedByteCount
            #expect(decoder.takeOUTSubmitHeader(minimum: 4096, lend: lend) == nil)
            #expect(decoder.bufferedByteCount == before)
        }
    }

    @Test func aHeaderOverTheLimitsIsRefusedByNextNotTaken() throws {
        var decoder = USBIPStreamDecoder(receiver: .server, limits: USBIPLimits(maxTransferBufferLength: 4096))
        decoder.append(Self.out(8192).prefix(100))
        #expect(throws: USBIPError.self) { try decoder.next() }
        #expect(decoder.takeOUTSubmitHeader(minimum: 1, lend: Self.lend) == nil)
    }
}
