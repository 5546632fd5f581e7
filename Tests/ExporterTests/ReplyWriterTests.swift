import Log
import Sockets
import Testing
import USBIP

@testable import Exporter

@Suite struct ReplyWriterTests {
    private static func reply(_ seqnum: UInt32, bytes: Int) -> USBIPMessage {
        .submitReply(
            SubmitReply(
                seqnum: seqnum, status: 0, actualLength: UInt32(bytes),
                transferBuffer: ArraySlice(repeating: 0xAB, count: bytes)))
    }

    @Test func aClientThatReadsGetsEveryReplyInOrder() throws {
        let (server, client) = try Socket.pair()
        let writer = ReplyWriter(socket: server, logger: Logger(label: "test", level: .critical), limit: 1 << 20)
        for seqnum in UInt32(1)...50 { writer.send(Self.reply(seqnum, bytes: 100)) }
        writer.drain()
        server.shutdown()
        var decoder = USBIPStreamDecoder(receiver: .client)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var seqnums: [UInt32] = []
        while true {
            let n = try client.read(into: &buffer)
            if n == 0 { break }
            decoder.append(buffer[0..<n])
            while case .submitReply(let r)? = try decoder.next(requestDirection: { _ in .in }) {
                seqnums.append(r.seqnum)
            }
        }
        #expect(seqnums == Array(1...50))
        #expect(!writer.wasCutOff && writer.queuedBytes == 0)
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
