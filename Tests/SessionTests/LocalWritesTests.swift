import Sockets
import Testing

@testable import Session

@Suite struct LocalWritesTests {
    typealias LocalWrites = Session.LocalWrites

    private func socketChannel(_ id: UInt16) throws -> SessionChannel {
        let (local, _) = try Socket.pair()
        return SessionChannel(id: id, end: .socket(local))
    }

    private func data(_ channel: UInt16, fin: Bool = false) -> SessionFrame {
        fin
            ? SessionFrame(kind: .data, flags: SessionFrame.finFlag, channel: channel, number: 1)
            : SessionFrame(kind: .data, channel: channel, number: 1, payload: [1, 2, 3])
    }

    @Test func moreOfTheSameChannelsBytesJoinWhatWaits() throws {
        let channel = try socketChannel(3)
        var writes = LocalWrites()
        let first = writes.add([1, 2], for: channel, channel.local!)
        #expect(first)
        #expect(writes.mayJoin(data(3)))
        let second = writes.add([3], for: channel, channel.local!)
        #expect(second)
        #expect(writes.parts == [[1, 2], [3]])
    }

    @Test func anotherChannelsBytesWaitUntilWhatWaitsIsWritten() throws {
        let first = try socketChannel(3)
        let second = try socketChannel(4)
        var writes = LocalWrites()
        _ = writes.add([1], for: first, first.local!)
        #expect(!writes.mayJoin(data(4)))
        let joined = writes.add([2], for: second, second.local!)
        #expect(!joined)
        #expect(writes.parts == [[1]])
    }

    @Test func aChannelsEndAndControlMessagesComeAfterItsWaitingBytes() throws {
        let channel = try socketChannel(3)
        var writes = LocalWrites()
        _ = writes.add([1], for: channel, channel.local!)
        #expect(!writes.mayJoin(data(3, fin: true)))
        #expect(!writes.mayJoin(data(0)))
        #expect(!writes.mayJoin(SessionFrame(kind: .hello)))
    }

    @Test func acksCreditsPingsAndPongsBetweenDataFramesDoNotEndTheRun() throws {
        let channel = try socketChannel(3)
        var writes = LocalWrites()
        _ = writes.add([1], for: channel, channel.local!)
        for kind in [SessionFrame.Kind.ack, .credit, .ping, .pong] {
            #expect(writes.mayJoin(SessionFrame(kind: kind, channel: 3, number: 1)), "\(kind)")
        }
    }

    @Test func aRunStopsAtItsVectorBoundAndAnythingJoinsOnceWritten() throws {
        let channel = try socketChannel(3)
        var writes = LocalWrites()
        for _ in 0..<LocalWrites.maxParts {
            let added = writes.add([7], for: channel, channel.local!)
            #expect(added)
        }
        let beyond = writes.add([8], for: channel, channel.local!)
        #expect(!beyond)
        writes.removeAll()
        #expect(writes.isEmpty)
        #expect(writes.mayJoin(data(9)))
        let other = try socketChannel(9)
        let fresh = writes.add([8], for: other, other.local!)
        #expect(fresh)
    }
}
