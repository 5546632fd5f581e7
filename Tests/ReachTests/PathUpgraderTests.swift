import Log
import OSThreads
import Reach
import Session
import Sockets
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A server and a client on loopback whose session starts on a stand-in for the relay
/// (a TCP connection through a local listener) and may move to a direct path: the
/// server's own listener, or a connection punched between the two ends' relay ports.
final class PathHarness: @unchecked Sendable {
    /// Both ends' lines, kept for a failing test to show (not printed otherwise).
    let logger: Logger
    let relay: TCP.Listener
    let direct: TCP.Listener?
    let registry: SessionRegistry
    let responder: PathResponder
    let upgrader: PathUpgrader
    var client: SessionClient!
    /// Holds the server's relay port, as its registration at the relay does.
    let serverRelayHold: (Socket, Socket)
    let serverRelayPort: UInt16
    let record: Record

    /// What the harness saw, shared with the closures it hands out.
    final class Record: Sendable {
        let paths = Observed<[String]>([])
        /// Sockets of the direct connections the client made, to cut them.
        let directSockets = Mutex<[Socket]>([])
        /// How often the client's session thought its connection lost.
        let disconnects = Atomic<Int>(0)
        let lines = Mutex<[String]>([])
    }

    /// What both ends logged, for an expectation's comment.
    var said: Comment { Comment(rawValue: record.lines.withLock { $0.joined() }) }

    init(directListener: Bool) throws {
        let record = Record()
        self.record = record
        logger = Logger(label: "path", level: .info) { line in record.lines.withLock { $0.append(line) } }
        relay = try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: 0))
        direct = directListener ? try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: 0)) : nil
        let hold = try TCP.connect(to: relay.endpoint, localPort: 0)
        serverRelayHold = (hold, try relay.accept())
        serverRelayPort = TCP.localEndpoint(of: hold)!.port
        let port = serverRelayPort
        final class Late: @unchecked Sendable { weak var harness: PathHarness? }
        let late = Late()
        responder = PathResponder(
            listener: direct?.endpoint, punchSeconds: 3, logger: logger,
            relayPath: { (Endpoint(host: "127.0.0.1", port: port), port) },
            accept: { socket in late.harness?.serve(socket) })
        registry = SessionRegistry(configuration: .init(), logger: logger) { [responder] _ in
            SessionEvents(
                openChannel: { _, _ in
                    guard let (mine, theirs) = try? Socket.pair() else { return nil }
                    try? OSThread.detach(name: "test") { PathHarness.echo(theirs) }
                    return .socket(mine)
                },
                control: { message, session in responder.handle(message, in: session) })
        }
        var timing = PathUpgrader.Timing()
        // The listener always answers; a loaded machine can take over a second to
        // complete even a loopback handshake, and then the client would punch instead.
        timing.directSeconds = 30
        timing.punchSeconds = 3
        timing.retryInitial = 0.5
        timing.retryCap = 1
        upgrader = PathUpgrader(timing: timing, logger: logger) { socket in
            record.directSockets.withLock { $0.append(socket) }
            return socket
        }
        var events = SessionEvents()
        events.moved = { path in record.paths.update { $0.append(path) } }
        events.resumed = { path in record.paths.update { $0.append(path) } }
        events.disconnected = { _ in record.disconnects.add(1, ordering: .relaxed) }
        events.control = { [upgrader] message, session in upgrader.handle(message, in: session) }
        let relayEndpoint = relay.endpoint
        client = SessionClient(peerName: "pi", configuration: .init(), logger: logger, events: events) {
            [upgrader] in
            let socket = try TCP.connect(to: relayEndpoint, localPort: 0)
            let local = TCP.localEndpoint(of: socket)!
            upgrader.connecting(through: .init(localPort: local.port, observed: local))
            return (socket, "relay")
        }
        upgrader.manage(client)
        late.harness = self
        // The stand-in relay hands each connection to the server, as a splice would.
        try? OSThread.detach(name: "test") { [relay] in
            while let socket = try? relay.accept() {
                try? OSThread.detach(name: "test") { late.harness?.serve(socket) }
            }
        }
        if let direct {
            try? OSThread.detach(name: "test") {
                while let socket = try? direct.accept() {
                    try? OSThread.detach(name: "test") { late.harness?.serve(socket) }
                }
            }
        }
    }

    func serve(_ socket: Socket) {
        guard let session = try? registry.accept(socket, peer: "laptop") else { return socket.close() }
        responder.connected(session)
    }

    func stop() {
        client.stop(reason: "test over")
        relay.socket.shutdown()
        direct?.socket.shutdown()
    }

    static func echo(_ socket: Socket) {
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        while let n = try? socket.read(into: &buffer), n > 0 {
            guard (try? socket.writeAll(buffer[0..<n])) != nil else { break }
        }
    }

    /// Waits until the paths seen so far satisfy `condition`.
    func waitForPaths(_ condition: ([String]) -> Bool) -> Bool { record.paths.wait(until: condition) }
}

/// Streams a known byte pattern through an echoing channel and checks every byte back.
/// It runs until the test says `finish` (once the event under test, such as a path
/// move, has happened), then carries `tail` bytes more: the event always falls inside
/// the stream, however fast or slow the machine is.
final class EchoStream: @unchecked Sendable {
    let channel: Socket
    let verified = Atomic<Int>(0)
    let mismatch = Atomic<Bool>(false)
    /// The stream's length, -1 until the writer has decided it.
    let total = Atomic<Int>(-1)
    private let finishRequested = Atomic<Int>(-1)
    private var threads: [OSThread] = []

    init(_ channel: Socket) { self.channel = channel }

    static func byte(at index: Int) -> UInt8 { UInt8(truncatingIfNeeded: index &* 31 &+ index >> 8) }

    /// - Parameter pauseMicroseconds: the pace between chunks (a load shape that keeps
    ///   the stream going for long, not a wait for anything).
    func start(chunk: Int = 16 * 1024, pauseMicroseconds: UInt32 = 2000) {
        let channel = self.channel
        threads.append(
            try! OSThread.start(name: "echo-writer") { [self] in
                var sent = 0
                var end = Int.max
                while sent < end {
                    let tail = finishRequested.load(ordering: .acquiring)
                    if end == .max, tail > 0 {
                        end = sent + tail
                        total.store(end, ordering: .releasing)  // before the last bytes go
                    }
                    let n = min(chunk, end - sent)
                    let bytes = (sent..<(sent + n)).map(EchoStream.byte(at:))
                    guard (try? channel.writeAll(bytes)) != nil else { return }
                    sent += n
                    usleep(pauseMicroseconds)
                }
            })
        threads.append(
            try! OSThread.start(name: "echo-reader") { [self] in
                var buffer = [UInt8](repeating: 0, count: 64 * 1024)
                var received = 0
                while total.load(ordering: .acquiring) < 0 || received < total.load(ordering: .acquiring),
                    let n = try? channel.read(into: &buffer), n > 0
                {
                    for i in 0..<n where buffer[i] != EchoStream.byte(at: received + i) {
                        mismatch.store(true, ordering: .relaxed)
                    }
                    received += n
                    verified.store(received, ordering: .relaxed)
                }
            })
    }

    /// Ends the stream after `tail` more bytes (at least one, so the reader is woken).
    func finish(tail: Int = 1 << 20) {
        finishRequested.store(max(1, tail), ordering: .releasing)
        for thread in threads { thread.join() }
    }

    /// Every byte came back, in order and unchanged, and there were at least `minimum`.
    func intact(atLeast minimum: Int) -> Bool {
        let total = total.load(ordering: .relaxed)
        return total >= minimum && verified.load(ordering: .relaxed) == total && !mismatch.load(ordering: .relaxed)
    }
}

@Suite(.serialized) struct PathUpgraderTests {
    @Test func aSessionOnTheRelayMovesToTheServersDirectAddressWithNoByteLost() throws {
        let harness = try PathHarness(directListener: true)
        defer { harness.stop() }
        let session = try harness.client.start()
        #expect(session.currentPath == "relay")
        let stream = EchoStream(try session.openChannel())
        stream.start()
        #expect(harness.waitForPaths { $0.contains { $0.hasPrefix("direct 127.0.0.1:") } }, harness.said)
        stream.finish()
        #expect(stream.intact(atLeast: 1 << 20))
        #expect(!harness.record.paths.current.contains { $0.contains("hole-punched") }, harness.said)
        #expect(harness.client.current === session)
        // A move is not a loss: the old connection's end was expected.
        let disconnects = harness.record.disconnects.load(ordering: .relaxed)
        #expect(disconnects == 0)
    }

    @Test func withoutDirectAddressesTheEndsPunchAHoleAndTheSessionMovesOntoIt() throws {
        let harness = try PathHarness(directListener: false)
        defer { harness.stop() }
        let session = try harness.client.start()
        let stream = EchoStream(try session.openChannel())
        stream.start()
        #expect(harness.waitForPaths { $0.contains { $0.hasSuffix("(hole-punched)") } })
        stream.finish()
        #expect(stream.intact(atLeast: 1 << 20))
    }

    @Test func whenTheDirectPathDiesTheSessionGoesBackToTheRelayAndThenDirectAgain() throws {
        let harness = try PathHarness(directListener: false)
        defer { harness.stop() }
        let session = try harness.client.start()
        let stream = EchoStream(try session.openChannel())
        stream.start(pauseMicroseconds: 4000)
        #expect(harness.waitForPaths { $0.contains { $0.hasSuffix("(hole-punched)") } })
        for socket in harness.record.directSockets.withLock({ $0 }) { socket.shutdown() }
        #expect(
            harness.waitForPaths { paths in
                guard let punched = paths.firstIndex(where: { $0.hasSuffix("(hole-punched)") }),
                    let relayed = paths[punched...].firstIndex(of: "relay")
                else { return false }
                return paths[relayed...].contains { $0.hasSuffix("(hole-punched)") }
            })
        stream.finish()
        #expect(stream.intact(atLeast: 1 << 20))
        #expect(harness.client.current === session)
    }
}
