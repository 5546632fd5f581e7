import ByteBuffers
import Testing

@testable import USBIP

/// A client's stream as a socket hands it over: in reads of at most `chunk` bytes.
private struct StreamSource {
    let bytes: [UInt8]
    var chunk: Int
    var position = 0
    /// What each read into the decoder's storage was allowed (`atMost`), in order.
    var storageReads: [Int] = []

    mutating func read(into storage: inout [UInt8], at offset: Int, atMost: Int) -> Int {
        storageReads.append(atMost)
        let n = min(chunk, atMost, storage.count - offset, bytes.count - position)
        storage.replaceSubrange(offset..<(offset + n), with: bytes[position..<(position + n)])
        position += n
        return n
    }

    mutating func read(into storage: UnsafeMutableRawBufferPointer) -> Int {
        let n = min(chunk, storage.count, bytes.count - position)
        bytes[position..<(position + n)].withUnsafeBytes { storage.copyMemory(from: $0) }
        position += n
        return n
    }
}

/// What came out of the reader: each message, and for a URB whose data went into its
/// buffer, the data read back from that buffer.
private enum Received: Equatable {
    case message(USBIPMessage)
    case outData(SubmitCommand, [UInt8])
}

@Suite struct USBIPServerReaderTests {
    static func out(_ seqnum: UInt32, _ count: Int) -> SubmitCommand {
        SubmitCommand(
            seqnum: seqnum, devid: 0x1_0002, direction: .out, ep: 2, transferBufferLength: UInt32(count),
            transferBuffer: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seqnum)) }[...])
    }
    static let inURB = SubmitCommand(seqnum: 3, devid: 0x1_0002, direction: .in, ep: 1, transferBufferLength: 65536)
    static let unlink = UnlinkCommand(seqnum: 4, devid: 0x1_0002, unlinkSeqnum: 3)
    static let messages: [USBIPMessage] = [
        .submit(out(1, 65536)), .submit(out(2, 8192)), .submit(inURB), .submit(out(5, 512)), .unlink(unlink),
        .submit(out(6, 4096)),
    ]

    /// Reads `source` to its end as USBIPConnection does, lending a buffer when `lend` says.
    private static func drain(
        _ source: inout StreamSource, lend: Bool = true
    ) throws -> (received: [Received], reader: USBIPServerReader) {
        var reader = USBIPServerReader()
        var received: [Received] = []
        while true {
            switch reader.read(
                room: 64 * 1024, { source.read(into: &$0, at: $1, atMost: $2) }, into: { source.read(into: $0) })
            {
            case .ended:
                return (received, reader)
            case .outData(let command, let data):
                received.append(.outData(command, data.slice(0..<Int(command.transferBufferLength)).copied()))
            case .more:
                while let message = try reader.next() { received.append(.message(message)) }
                reader.takeOUTSubmitHeader(minimum: 4096) {
                    lend ? FixedBytes(uninitializedCount: Int($0.transferBufferLength)) : nil
                }
            }
        }
    }

    /// A URB whose data went to its buffer, as the message it was on the wire.
    private static func asSent(_ received: Received) -> USBIPMessage {
        switch received {
        case .message(let message): return message
        case .outData(var command, let data):
            command.transferBuffer = data[...]
            return .submit(command)
        }
    }

    @Test(arguments: [1, 20, 48, 100, 4096, 60_000, 1 << 20])
    func everyMessageComesOutOnceInOrderWithItsDataWhereverTheReadsCut(chunk: Int) throws {
        var source = StreamSource(bytes: Self.messages.flatMap(\.encoded), chunk: chunk)
        let (received, reader) = try Self.drain(&source)
        #expect(received.map(Self.asSent) == Self.messages)
        #expect(reader.partialMessageBytes == 0)
        // The first URB's data cannot all come with its header in one read of 64 KiB.
        guard case .outData(let first, _) = received.first else {
            Issue.record("the first URB's data did not go to its buffer")
            return
        }
        #expect(first.seqnum == 1)
    }

    @Test func theReadAfterAURBsBufferIsFullTakesTheNextHeaderAloneAndAnyOtherMessageEndsThat() throws {
        var source = StreamSource(bytes: Self.messages.flatMap(\.encoded), chunk: 1 << 20)
        _ = try Self.drain(&source)
        // The first read takes all it can: the first URB's header and 64 KiB - 48 of its
        // data (copied into its buffer). Its buffer's last 48 bytes come next, then a read
        // of the second URB's header alone; after that URB's data, the IN URB's header
        // alone, and, since an IN URB is a message of another kind, full reads again.
        let header = WireSize.urbHeader
        #expect(Array(source.storageReads.prefix(3)) == [Int.max, header, header])
        #expect(source.storageReads.dropFirst(3).allSatisfy { $0 == Int.max })
    }

    @Test func withoutABufferTheDataComesThroughTheDecoderAsBefore() throws {
        var source = StreamSource(bytes: Self.messages.flatMap(\.encoded), chunk: 5000)
        let (received, _) = try Self.drain(&source, lend: false)
        #expect(received == Self.messages.map { .message($0) })
        #expect(source.storageReads.allSatisfy { $0 == Int.max })
    }

    @Test func aStreamEndingInsideAURBsDataCountsWhatCameOfItAsPartial() throws {
        let whole = USBIPMessage.submit(Self.out(1, 65536)).encoded
        var source = StreamSource(bytes: Array(whole.prefix(10_000)), chunk: 3000)
        let (received, reader) = try Self.drain(&source)
        #expect(received.isEmpty)
        #expect(reader.partialMessageBytes == 10_000)
    }
}
