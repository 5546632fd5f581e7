import Log
import OSThreads
import Sockets
import Synchronization
import TestSupport
import Testing

@testable import Session

/// A channel handled in the server's process (`ChannelEnd.handler`): what it was handed,
/// and whether and why it was closed.
final class RecordingHandler: ChannelHandler {
    let sender: ChannelSender
    let received = Observed<[UInt8]>([])
    let closings = Observed<[String]>([])
    /// Echo what arrives back to the peer.
    let echoes: Bool

    init(_ sender: ChannelSender, echoes: Bool = false) {
        self.sender = sender
        self.echoes = echoes
    }

    func received(_ bytes: ArraySlice<UInt8>) {
        received.update { $0 += bytes }
        if echoes { sender.send(bytes) }
    }

    func closed(_ reason: String) { closings.update { $0.append(reason) } }
}

/// A server session whose peer is the test itself, speaking frames on a socket; its
/// channels are handled by `RecordingHandler`s.
final class RawPeer: @unchecked Sendable {
    let registry: SessionRegistry
    let peer: Socket
    let session: Session
    var reader: FrameReader
    let handlers: Observed<[RecordingHandler]>
    private var nextNumber: UInt64 = 1

    init(configuration: SessionConfiguration) throws {
        let handlers = Observed<[RecordingHandler]>([])
        self.handlers = handlers
        registry = SessionRegistry(configuration: configuration, logger: Logger(label: "test", level: .critical)) { _ in
            SessionEvents(openChannel: { _, sender in
                let handler = RecordingHandler(sender)
                handlers.update { $0.append(handler) }
                return .handler(handler)
            })
        }
        let (peer, pi) = try Socket.pair()
        self.peer = peer
        try SessionHandshake.send(
            SessionHello(resume: false, sessionId: SessionHello.newSession, receivedThrough: 0), over: peer)
        session = try registry.accept(pi, peer: "peer")
        _ = try SessionHandshake.readHello(from: peer)
        reader = FrameReader(peer)
    }

    /// Sends a numbered data frame.
    func send(channel: UInt16, _ payload: [UInt8], fin: Bool = false) throws {
        try peer.writeAll(
            SessionFrame(
                kind: .data, flags: fin ? SessionFrame.finFlag : 0, channel: channel, number: nextNumber,
                payload: payload
            ).encoded)
        nextNumber += 1
    }

    func open(_ channel: UInt16) throws -> RecordingHandler {
        let count = handlers.current.count
        try send(channel: 0, ControlMessage.open(channel: channel).encoded)
        try #require(handlers.wait { $0.count > count })
        return handlers.current[count]
    }

    /// The frames up to the next of `kind` (itself included).
    func frames(through kind: SessionFrame.Kind) throws -> [SessionFrame] {
        var frames: [SessionFrame] = []
        while true {
            let frame = try reader.next()
            frames.append(frame)
            if frame.kind == kind { return frames }
        }
    }
}

@Suite(.serialized) struct ChannelSenderTests {
    func quick(window: Int = 256 * 1024) -> SessionConfiguration {
        var c = SessionConfiguration()
        c.grace = 5
        c.channelWindow = window
        return c
    }

    @Test func aHandledChannelIsHandedTheBytesInOrderAndItsRepliesReachThePeer() throws {
        let harness = SessionHarness(configuration: quick()) { .handler(RecordingHandler($0, echoes: true)) }
        try harness.client.start()
        defer { harness.client.stop(reason: "test over") }
        let channel = try harness.client.current!.openChannel()
        var generator = SystemRandomNumberGenerator()
        let data = (0..<(3 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        #expect(try SessionHarness.roundTrip(data, over: channel) == data)
    }

    @Test func aHandledChannelCarriesOnAcrossCutsWithoutLosingOrRepeatingAByte() throws {
        let harness = SessionHarness(configuration: quick()) { .handler(RecordingHandler($0, echoes: true)) }
        let session = try harness.client.start()
        defer { harness.client.stop(reason: "test over") }
        let channel = try session.openChannel()
        let data = (0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let echoed = try SessionHarness.roundTrip(data, over: channel) { harness.cut() }
        #expect(echoed == data)
        #expect(harness.resumes.current >= 1)
    }

    @Test func repliesGoOutOnlyAsFarAsThePeersWindowAllows() throws {
        let window = 4 * SessionFrame.maxPayload  // whole frames fill it
        let peer = try RawPeer(configuration: quick(window: window))
        defer { peer.session.end(reason: "test over", tellPeer: false) }
        let handler = try peer.open(1)
        // Three windows' worth queued at once: more than the peer has room for.
        #expect(handler.sender.send([UInt8](repeating: 5, count: 3 * window)))
        var delivered = 0
        while delivered < window {
            let frame = try peer.reader.next()
            if frame.kind == .data, frame.channel == 1 { delivered += frame.payload.count }
        }
        // Everything the writer sends after the window is full comes after this pong:
        // a reply beyond the window would be in between.
        try peer.peer.writeAll(SessionFrame(kind: .ping, number: 42).encoded)
        let beforePong = try peer.frames(through: .pong)
        #expect(delivered == window)
        #expect(beforePong.allSatisfy { !($0.kind == .data && $0.channel == 1) })
        // The peer consumed it all: the next window's worth follows, and no more.
        try peer.peer.writeAll(SessionFrame(kind: .credit, channel: 1, number: UInt64(window)).encoded)
        while delivered < 2 * window {
            let frame = try peer.reader.next()
            if frame.kind == .data, frame.channel == 1 { delivered += frame.payload.count }
        }
        try peer.peer.writeAll(SessionFrame(kind: .ping, number: 43).encoded)
        #expect(try peer.frames(through: .pong).allSatisfy { !($0.kind == .data && $0.channel == 1) })
        #expect(delivered == 2 * window)
    }

    @Test func aRepliesStorageIsReusedOnlyOnceThePeerHasAcknowledgedEveryFrameOfIt() throws {
        let peer = try RawPeer(configuration: quick())
        defer { peer.session.end(reason: "test over", tellPeer: false) }
        let handler = try peer.open(1)
        let pooled = { peer.session.monitor.withLock { peer.session.payloadPool.freeBytes } }
        /// Acknowledges through `number`, and returns once the session has read it (the
        /// pong to a ping sent after it comes back).
        func acknowledge(through number: UInt64) throws {
            try peer.peer.writeAll(SessionFrame(kind: .ack, number: number).encoded)
            try peer.peer.writeAll(SessionFrame(kind: .ping, number: number).encoded)
            _ = try peer.frames(through: .pong)
        }
        func dataFrames(count: Int) throws -> [SessionFrame] {
            var frames: [SessionFrame] = []
            while frames.count < count {
                let frame = try peer.reader.next()
                if frame.kind == .data, frame.channel == 1 { frames.append(frame) }
            }
            return frames
        }
        // One reply over two frames (16 KiB, the largest storage kept): the first
        // acknowledged alone frees nothing.
        let reply = (0..<(SessionFrame.maxPayload + 16)).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        #expect(handler.sender.send(reply))
        let frames = try dataFrames(count: 2)
        #expect(Array(frames.map(\.payload).joined()) == reply)
        try acknowledge(through: frames[0].number)
        #expect(pooled() == 0)
        try acknowledge(through: frames[1].number)
        #expect(pooled() > 0)
        // A small reply's storage comes back with its ack, and the next small one takes it.
        #expect(handler.sender.send([UInt8](repeating: 1, count: 100)))
        let first = try dataFrames(count: 1)[0]
        let afterFirst = pooled()
        try acknowledge(through: first.number)
        #expect(pooled() > afterFirst)
        #expect(handler.sender.send([UInt8](repeating: 2, count: 100)))
        #expect(try dataFrames(count: 1)[0].payload == ArraySlice(repeating: 2, count: 100))
        #expect(pooled() == afterFirst)
    }

    @Test func aHandlerWhoseRepliesPileUpUnreadIsCutOffAtTheBound() throws {
        var configuration = quick(window: 1000)  // smaller than a frame: replies go in pieces that fit
        configuration.maxQueuedChannelBytes = 64 * 1024
        let peer = try RawPeer(configuration: configuration)
        defer { peer.session.end(reason: "test over", tellPeer: false) }
        let handler = try peer.open(1)
        // The peer gives no credit: past the window, replies queue up to the bound.
        var accepted = 0
        while handler.sender.send([UInt8](repeating: 1, count: 4096)) { accepted += 4096 }
        #expect(accepted <= 1000 + 64 * 1024)
        #expect(handler.closings.wait { !$0.isEmpty })
        #expect(handler.closings.current.count == 1)
        #expect(handler.closings.current.first?.contains("unsent") == true)
        // The channel is over for this end; the session lives on.
        #expect(!handler.sender.send([1]))
        #expect(!peer.session.isEnded)
    }

    @Test func thePeersEndOfTheChannelClosesTheHandlerOnceAndIsAnswered() throws {
        let peer = try RawPeer(configuration: quick())
        defer { peer.session.end(reason: "test over", tellPeer: false) }
        let handler = try peer.open(1)
        try peer.send(channel: 1, [1, 2, 3])
        try peer.send(channel: 1, [], fin: true)
        #expect(handler.closings.wait { !$0.isEmpty })
        #expect(handler.received.current == [1, 2, 3])
        // This end answers with its own end of the channel, and the channel is forgotten.
        while true {
            let frame = try peer.reader.next()
            if frame.isFin {
                #expect(frame.channel == 1)
                break
            }
        }
        #expect(!handler.sender.send([4]))
        peer.session.end(reason: "test over", tellPeer: false)
        #expect(handler.closings.current == ["the peer closed the channel"])
    }

    @Test func closingFromTheHandlerSendsWhatWasQueuedThenTheEnd() throws {
        let handlers = Observed<[RecordingHandler]>([])
        let harness = SessionHarness(configuration: quick()) { sender in
            let handler = RecordingHandler(sender)
            handlers.update { $0.append(handler) }
            return .handler(handler)
        }
        try harness.client.start()
        defer { harness.client.stop(reason: "test over") }
        let channel = try harness.client.current!.openChannel()
        #expect(handlers.wait { !$0.isEmpty })
        let handler = handlers.current[0]
        #expect(handler.sender.send(Array("hello".utf8)))
        handler.sender.close()
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let n = try channel.read(into: &buffer)
            guard n > 0 else { break }
            received += buffer[0..<n]
        }
        #expect(received == Array("hello".utf8))
        #expect(handler.closings.current == ["closed by this end"])
    }

    @Test func endingTheSessionClosesEveryHandledChannelOnce() throws {
        let peer = try RawPeer(configuration: quick())
        let first = try peer.open(1)
        let second = try peer.open(2)
        peer.session.end(reason: "owner stopped it", tellPeer: false)
        #expect(first.closings.wait { !$0.isEmpty })
        #expect(second.closings.wait { !$0.isEmpty })
        #expect(first.closings.current == ["the session ended: owner stopped it"])
        #expect(second.closings.current == ["the session ended: owner stopped it"])
        #expect(!first.sender.send([1]))
    }
}
