import ByteBuffers
import Log
import OSThreads
import Sockets
import Testing
import USBIP

@testable import Exporter

@Suite struct ReplyWriterTests {
    /// A RET_SUBMIT whose data lies in a transfer's buffer, as the USB thread makes them.
    private static func reply(_ seqnum: UInt32, bytes: Int) -> OutboundMessage {
        let block = FixedBytes(copying: [UInt8](repeating: 0xAB, count: bytes))
        return OutboundMessage(
            SubmitReply(seqnum: seqnum, status: 0, actualLength: UInt32(bytes)), data: block.slice(0..<bytes))
    }

    @Test func aClientThatReadsGetsEveryReplyInOrder() throws {
        let (server, client) = try Socket.pair()
        let writer = ReplyWriter(socket: server, logger: Logger(label: "test", level: .critical), limit: 1 << 20)
        for seqnum in UInt32(1)...50 { writer.send(Self.reply(seqnum, bytes: 100)) }
        writer.drain()
        server.shutdown()
        #expect(try Self.seqnums(from: client) == Array(1...50))
        #expect(!writer.wasCutOff && writer.queuedBytes == 0)
    }

    /// Reads replies until the connection ends: their sequence numbers, in order.
    private static func seqnums(from client: Socket) throws -> [UInt32] {
        var decoder = USBIPStreamDecoder(receiver: .client)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var seqnums: [UInt32] = []
        while true {
            let n = try client.read(into: &buffer)
            if n == 0 { return seqnums }
            decoder.append(buffer[0..<n])
            while case .submitReply(let r)? = try decoder.next(requestDirection: { _ in .in }) {
                seqnums.append(r.seqnum)
            }
        }
    }

    @Test func aReplyToAConnectionWithNothingWaitingIsInTheSocketWhenSendReturns() throws {
        // Written by the thread that made it (the USB thread), not handed to another.
        let (server, client) = try Socket.pair()
        let writer = ReplyWriter(socket: server, logger: Logger(label: "test", level: .critical), limit: 1 << 20)
        writer.send(Self.reply(7, bytes: 512))
        try client.setNonBlocking()
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = try client.readSome(into: &buffer)
        #expect(n == 48 + 512)
        #expect(writer.queuedBytes == 0)
    }

    @Test func repliesTheSocketCannotTakeNowWaitAndFollowInOrder() throws {
        let (server, client) = try Socket.pair()
        let writer = ReplyWriter(socket: server, logger: Logger(label: "test", level: .critical), limit: 16 << 20)
        // Far more than the socket's buffer, within the bound: most wait for the queue.
        let count: UInt32 = 200
        for seqnum in 1...count { writer.send(Self.reply(seqnum, bytes: 32 * 1024)) }
        #expect(writer.queuedBytes > 0)
        let reader = try OSThread.start(name: "test-reader") {
            #expect((try? Self.seqnums(from: client)) == Array(1...count))
        }
        writer.drain()
        server.shutdown()
        reader.join()
        #expect(!writer.wasCutOff && writer.queuedBytes == 0)
    }

    @Test func whatIsLeftOfARepliesPartsAfterAnyPartialSendIsItsRemainingBytesInOrder() {
        let parts: [ArraySlice<UInt8>] = [[1, 2, 3][...], [], [4, 5, 6, 7][...]]
        for sent in 0...7 {
            #expect(ReplyWriter.joined(parts, droppingFirst: sent) == Array([1, 2, 3, 4, 5, 6, 7][sent...]))
        }
        // Data beside the message, a slice from the middle of a transfer's buffer.
        let tail = FixedBytes(copying: [0, 0, 8, 9, 10, 0]).slice(2..<5)
        for sent in 0...10 {
            #expect(
                ReplyWriter.joined(parts, then: tail, droppingFirst: sent)
                    == Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10][sent...]))
        }
    }

    @Test func repliesWithDataArriveByteForByteWhenSomeWaitForTheQueue() throws {
        // Headers and data go out in gathered sends, cut anywhere by a full socket.
        let (server, client) = try Socket.pair()
        let writer = ReplyWriter(socket: server, logger: Logger(label: "test", level: .critical), limit: 16 << 20)
        // Data in the message and data beside it, in a transfer's buffer, alternately.
        let replies = (UInt32(1)...100).map { seqnum in
            let data = (0..<(20_000 + Int(seqnum) * 7)).map { UInt8(truncatingIfNeeded: $0 &+ Int(seqnum)) }
            return SubmitReply(
                seqnum: seqnum, status: 0, actualLength: UInt32(data.count), transferBuffer: data[...])
        }
        for reply in replies {
            if reply.seqnum % 2 == 0 {
                writer.send(OutboundMessage(.submitReply(reply)))
            } else {
                let block = FixedBytes(copying: [0, 0] + reply.transferBuffer)
                writer.send(OutboundMessage(reply, data: block.slice(2..<block.count)))
            }
        }
        #expect(writer.queuedBytes > 0)
        let reader = try OSThread.start(name: "test-reader") {
            var decoder = USBIPStreamDecoder(receiver: .client)
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            var received: [SubmitReply] = []
            while let n = try? client.read(into: &buffer), n > 0 {
                decoder.append(buffer[0..<n])
                while case .submitReply(let r)? = try? decoder.next(requestDirection: { _ in .in }) {
                    received.append(r)
                }
            }
            #expect(received.map(\.seqnum) == replies.map(\.seqnum))
            #expect(received.map { Array($0.transferBuffer) } == replies.map { Array($0.transferBuffer) })
        }
        writer.drain()
        server.shutdown()
        reader.join()
    }

    @Test func aClientThatStopsReadingIsCutOffAtTheBoundNotGrown() throws {
        let (server, client) = try Socket.pair()
        let limit = 256 * 1024
        let writer = ReplyWriter(socket: server, logger: Logger(label: "test", level: .critical), limit: limit)
        // Far more than the socket's buffer and the bound together; the client never reads.
        var seqnum: UInt32 = 0
        while !writer.wasCutOff, seqnum < 10_000 {
            seqnum += 1
            writer.send(Self.reply(seqnum, bytes: 64 * 1024))
            #expect(writer.queuedBytes <= limit)
        }
        #expect(writer.wasCutOff)
        writer.drain()
        #expect(writer.queuedBytes == 0)
        withExtendedLifetime(client) {}
    }
}
