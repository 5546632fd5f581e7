import FileSystem
import Identity
import OSThreads
import Sockets
import Synchronization
import Testing

@testable import Secure

#if canImport(Glibc)
    import Glibc
#endif

/// TLS over a socketpair, both ends in this process.
@Suite struct TLSStreamTests {
    /// A client and a server stream that have shaken hands.
    static func connectedPair() throws -> (client: TLSStream, server: TLSStream) {
        let pi = EndpointIdentity.generate()
        let laptop = EndpointIdentity.generate()
        let serverContext = try TLSContext(role: .server, identity: pi, protocols: ["usbp2p/1"]) { _ in nil }
        let clientContext = try TLSContext(clientFor: pi.endpointId, identity: laptop, protocols: ["usbp2p/1"])
        let (clientSocket, serverSocket) = try Socket.pair()
        let server = Mutex<Result<TLSStream, any Error>?>(nil)
        let handshake = try OSThread.start(name: "test-server") {
            let result = Result { try TLSStream(socket: serverSocket, context: serverContext) }
            server.withLock { $0 = result }
        }
        let client = try TLSStream(socket: clientSocket, context: clientContext)
        handshake.join()
        return (client, try server.withLock { $0! }.get())
    }

    /// Reads from `stream` until `count` bytes have come.
    static func read(_ count: Int, from stream: TLSStream) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while bytes.count < count {
            let n = try stream.read(into: &buffer)
            guard n > 0 else { break }
            bytes += buffer[0..<n]
        }
        return bytes
    }

    @Test func aStreamDirectlyOverASocketWritesWithoutBlocking() throws {
        let (client, server) = try Self.connectedPair()
        #expect(client.writesWithoutBlocking)
        let result = try client.writeWithoutBlocking([1, 2, 3][...])
        #expect(result.taken == 3 && !result.holding)
        #expect(try Self.read(3, from: server) == [1, 2, 3])
    }

    @Test func recordsTheSocketCannotTakeAreHeldAndLeaveFirstWithTheNextWrite() throws {
        let (client, server) = try Self.connectedPair()
        // Nothing is read meanwhile: the socket fills, and the stream starts holding
        // records back (every write still takes all its bytes, and returns at once).
        var expected: [UInt8] = []
        var index = 0
        while true {
            let piece = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 16 * 1024)
            index += 1
            let result = try client.writeWithoutBlocking(piece[...])
            #expect(result.taken == piece.count)
            expected += piece
            if result.holding { break }
            try #require(index < 10_000, "the socket never filled")
        }
        // The next blocking write sends the held records first, then its own.
        let last = [UInt8](repeating: 0xee, count: 100)
        expected += last
        let writer = try OSThread.start(name: "test-writer") { try? client.writeAll(last) }
        #expect(try Self.read(expected.count, from: server) == expected)
        writer.join()
    }

    @Test func recordsReadStraightIntoTheConnectionArriveWholeAndInOrder() throws {
        let (client, server) = try Self.connectedPair()
        // Written in pieces that cut records anywhere, faster than the server reads: its
        // socket reads end mid-record, and what is left of a record moves to the front of
        // the connection's inbound buffer before the next read.
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let writer = try OSThread.start(name: "test-writer") {
            for start in stride(from: 0, to: bytes.count, by: 7001) {
                try? client.writeAll(bytes[start..<min(start + 7001, bytes.count)])
            }
        }
        #expect(try Self.read(bytes.count, from: server) == bytes)
        writer.join()
    }

    @Test func aPeerThatClosesReadsAsTheEndOfTheStream() throws {
        let (client, server) = try Self.connectedPair()
        try client.writeAll([7, 8, 9])
        #expect(try Self.read(3, from: server) == [7, 8, 9])
        client.shutdown()  // no close_notify: the socket just ends
        var buffer = [UInt8](repeating: 0, count: 1024)
        #expect(try server.read(into: &buffer) == 0)
    }

    @Test func aSilentPeerTimesTheReadOutAsASocketWould() throws {
        let (client, server) = try Self.connectedPair()
        try client.writeAll([1])
        #expect(try Self.read(1, from: server) == [1])
        server.setReceiveTimeout(seconds: 1)
        var buffer = [UInt8](repeating: 0, count: 1024)
        #expect {
            _ = try server.read(into: &buffer)
        } throws: { error in
            (error as? SystemError)?.errno == EAGAIN
        }
        _ = client
    }
}
