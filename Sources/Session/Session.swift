import DequeModule
import FileSystem
import Log
import OSThreads
import Sockets

/// One session between two endpoints: a control channel and channels of USB/IP bytes,
/// multiplexed over one connection at a time, and resumable on the next one.
///
/// Each connection has a reader thread and a writer thread. A channel either ends in a
/// local socket (the kernel's vhci side: the reader writes into it, one poller thread
/// per session reads all of them), or is handled in this process (the server's USB/IP
/// connections: `ChannelEnd.handler`), fed by the reader and sending straight into the
/// session. All state is guarded by one monitor; no thread blocks on I/O while holding
/// it. Ownership: whoever created the session ends it (`end`), or it ends itself when the
/// grace period passes, a protocol error occurs, or the peer says goodbye; the poller is
/// joined when it ends.
public final class Session: @unchecked Sendable {
    public enum Role: Sendable { case client, server }

    public let id: [UInt8]
    public let role: Role
    /// Who the peer is, for logs.
    public let peerName: String
    let configuration: SessionConfiguration
    let logger: Logger
    let events: SessionEvents

    let monitor = Monitor()
    // Everything below is guarded by `monitor`.
    var generation = 0
    var connection: (stream: any ByteStream, threads: [OSThread])?
    var endReason: String?
    /// `end` is saying goodbye: a connection closing now is expected.
    var ending = false
    var disconnectedAt: Double?
    /// Data frames sent (or to send again on this connection) and not yet acknowledged,
    /// oldest first; `resendCursor` of them have gone out on the current connection.
    var unacked: Deque<SessionFrame> = []
    var unackedBytes = 0
    /// Storage of acknowledged frames, for the next ones (`FramePayloadPool`).
    var payloadPool = FramePayloadPool()
    var resendCursor = 0
    var nextNumber: UInt64 = 1
    var receivedThrough: UInt64 = 0
    var lastAckSent: UInt64 = 0
    var control: Deque<SessionFrame> = []
    /// Payload bytes in `control`, bounded by `configuration.maxQueuedControlBytes`.
    var controlBytes = 0
    var channels: [UInt16: SessionChannel] = [:]
    var nextChannel: UInt16 = 1
    /// Whose frame goes next (monitor held).
    var scheduler = ChannelScheduler()
    /// The socket channels' poller, started with the first one, and how to wake it;
    /// `pollerAsleep` while it waits (only then does a wake need the eventfd).
    var poller: (thread: OSThread, wakeup: Wakeup)?
    var pollerAsleep = false
    /// How often the peer's bytes found a local socket full and waited for the poller
    /// (a vhci_hcd that reads slower than the link brings).
    var deferredWrites = 0
    /// A thread is building or writing a batch on the current connection: the writer, or
    /// a producer writing its own small frame without blocking (`writeNowOrWake`). One
    /// at a time, so frames leave in the order they were numbered.
    var writing = false
    /// What such a producer's write could not hand to the stream (the socket was full),
    /// and whether the stream holds records back: the writer sends both before anything
    /// else. Cleared with each new connection (the frames are resent from `unacked`).
    var carried: [UInt8] = []
    var streamHolding = false
    /// The producers' batch, kept from write to write; only the `writing` holder uses it.
    var inlineBatch: [UInt8] = []
    var pongs: Deque<UInt64> = []
    var nextPing = 0.0
    var lastReceived = 0.0
    /// Readers inside a channel handler (a USB/IP special request may keep one in a
    /// device's reset for seconds), and since when one has been: no frame can be heard
    /// meanwhile, so the writer does not count that time as the peer's silence, for up
    /// to `SessionConfiguration.handlerAllowance`.
    var readersInHandlers = 0
    var inHandlerSince = 0.0
    var roundTripTime: Double?
    var bytesSent: UInt64 = 0
    var bytesReceived: UInt64 = 0
    /// How the current (or last) connection runs, e.g. "relay 198.18.0.1:443".
    var path = ""
    /// The client is moving the session to a new connection: the old one ending now is
    /// the server letting go of it, not a loss (`lostWhileMoving` keeps why, in case the
    /// move fails after all).
    var moving = false
    var lostWhileMoving: String?

    public init(
        id: [UInt8], role: Role, peerName: String, configuration: SessionConfiguration = .init(),
        logger: Logger, events: SessionEvents
    ) {
        self.id = id
        self.role = role
        self.peerName = peerName
        self.configuration = configuration
        self.logger = logger
        self.events = events
    }

    /// The hello this side sends on a new connection for this session.
    public func hello(resume: Bool) -> SessionHello {
        monitor.withLock { SessionHello(resume: resume, sessionId: id, receivedThrough: receivedThrough) }
    }

    /// What `usbp2p-client status` shows.
    public struct Status: Sendable {
        public var connected: Bool
        public var roundTripTime: Double?
        public var bytesSent: UInt64
        public var bytesReceived: UInt64
        public var channels: Int
        /// How the current (or last) connection runs.
        public var path: String
    }

    public var status: Status {
        monitor.withLock {
            Status(
                connected: connection != nil, roundTripTime: roundTripTime, bytesSent: bytesSent,
                bytesReceived: bytesReceived, channels: channels.count, path: path)
        }
    }

    public var isEnded: Bool { monitor.withLock { endReason != nil } }
    /// Why the session ended (nil while it lasts).
    public var endedBecause: String? { monitor.withLock { endReason } }
    public var isConnected: Bool { monitor.withLock { connection != nil } }
    public var currentPath: String { monitor.withLock { path } }

    /// Carries the session over `stream` from now on (the hellos have been exchanged;
    /// `peerReceived` is what the peer's hello said it has received). A previous
    /// connection is closed first; unacknowledged frames are sent again. `path` says how
    /// the stream runs, for logs and status.
    ///
    /// The previous connection may still be live (the session moves to a better path):
    /// frames it delivered after the hello was written arrive again and are dropped by
    /// number, and acks it carried after the peer's hello may already have freed frames
    /// the hello still counts as unreceived — those did arrive, so there is nothing to resend.
    ///
    /// `greeting` (the server's hello) is written on the new stream after the old
    /// connection is retired and before anything else: an old connection that ends from
    /// then on is not taken for a loss.
    public func attach(
        _ stream: any ByteStream, peerReceived: UInt64, path newPath: String? = nil,
        greeting: (() throws -> Void)? = nil
    ) throws(SessionError) {
        let (old, g) = try monitor.withLock { () throws(SessionError) -> ((any ByteStream, [OSThread])?, Int) in
            guard endReason == nil else { throw .ended(endReason!) }
            guard peerReceived < nextNumber else {
                throw .cannotResume("the peer has received through \(peerReceived), we sent \(nextNumber - 1)")
            }
            let old = connection
            path = newPath ?? stream.peer
            generation += 1
            acknowledge(through: peerReceived)
            resendCursor = 0
            carried.removeAll()
            streamHolding = false
            lastAckSent = receivedThrough
            for channel in channels.values { channel.creditUnconfirmed = true }
            lastReceived = monotonicSeconds()
            nextPing = lastReceived
            disconnectedAt = nil
            moving = false
            lostWhileMoving = nil
            connection = (stream, [])
            // The old connection's writer may be waiting for its next ping: it must see
            // the new generation now, or the join below waits that long.
            monitor.broadcast()
            return (old, generation)
        }
        // A silent link is noticed by the reader even while the writer is stuck in a
        // full send buffer.
        stream.setReceiveTimeout(seconds: Int(configuration.deadAfter.rounded(.up)))
        if let old {
            old.0.shutdown()
            for thread in old.1 { thread.join() }
        }
        if let greeting {
            do { try greeting() } catch {
                connectionLost(generation: g, "writing the hello: \(error)")
                throw .cannotResume("writing the hello: \(error)")
            }
        }
        var threads: [OSThread] = []
        do throws(ThreadStartError) {
            threads.append(try OSThread.start(name: "session-read") { [self] in readLoop(stream, generation: g) })
            threads.append(try OSThread.start(name: "session-write") { [self] in writeLoop(stream, generation: g) })
        } catch {
            // The connection cannot run: it ends like a lost one (the reader, if it
            // started, stops with it and is joined by the next attach).
            monitor.withLock { if generation == g { connection?.threads = threads } }
            connectionLost(generation: g, "\(error)")
            throw .cannotResume("\(error)")
        }
        monitor.withLock {
            if generation == g { connection?.threads = threads }
            monitor.broadcast()
        }
        if g > 1, old != nil {
            logger.notice("session with \(peerName) moved to \(newPath ?? stream.peer)")
            events.moved(newPath ?? stream.peer)
        } else if g > 1 {
            logger.notice("session with \(peerName) resumed on \(newPath ?? stream.peer)")
            events.resumed(newPath ?? stream.peer)
        }
    }

    /// Client: a move to a new connection begins (its hello is about to go out).
    public func beginMove() { monitor.withLock { moving = true } }

    /// Client: the move failed; the old connection carries on, or, if it ended
    /// meanwhile, is now taken as lost.
    public func abandonMove() {
        let lost: (Int, String)? = monitor.withLock {
            defer {
                moving = false
                lostWhileMoving = nil
            }
            return lostWhileMoving.map { (generation, $0) }
        }
        if let (g, reason) = lost { connectionLost(generation: g, reason) }
    }

    /// Client: a new channel to the server's USB/IP service. The returned socket speaks
    /// USB/IP as if connected to a server (list, or import and then URBs).
    public func openChannel() throws(SessionError) -> Socket { try openNumberedChannel().socket }

    /// `openChannel()`, with the channel's number (for `channelBytes`).
    public func openNumberedChannel() throws(SessionError) -> (socket: Socket, channel: UInt16) {
        let (mine, theirs): (Socket, Socket)
        do throws(SystemError) { (mine, theirs) = try Socket.pair() } catch { throw .local("\(error)") }
        let channel: UInt16
        do { channel = try openChannel(on: theirs) } catch {
            mine.close()
            throw error
        }
        return (mine, channel)
    }

    /// The bytes a channel has carried each way so far; nil once it is gone.
    public func channelBytes(_ channel: UInt16) -> (sent: UInt64, received: UInt64)? {
        monitor.withLock { channels[channel].map { ($0.sentBytes, $0.receivedBytes) } }
    }

    /// Client: a new channel to the server's USB/IP service whose local end is `local`
    /// itself (a USB/IP client's TCP connection, which the bridge passes on): what it
    /// sends goes to the server, `first` ahead of it (bytes already read from it, at most
    /// a frame), and the server's answers are written into it. The session owns `local`
    /// from here, and closes it when the channel ends, also when this throws.
    @discardableResult
    public func openChannel(on local: Socket, sending first: [UInt8] = []) throws(SessionError) -> UInt16 {
        do {
            return try monitor.withLock { () throws(SessionError) -> UInt16 in
                guard endReason == nil else { throw .ended(endReason!) }
                guard first.count <= min(SessionFrame.maxPayload, configuration.channelWindow) else {
                    throw .local("\(first.count) bytes to send first are more than a frame")
                }
                guard channels.count < configuration.maxChannels, nextChannel != 0 else {
                    throw .local("too many channels in this session")
                }
                let id = nextChannel
                nextChannel &+= 1
                guard queueControl(.open(channel: id)) else { throw .local("the control channel is backed up") }
                startChannel(id, end: .socket(local))
                // (A local end that could not be watched has its FIN queued: nothing after it.)
                if !first.isEmpty, let channel = channels[id], !channel.finQueued {
                    let storage = payloadPool.take(capacity: first.count)
                    storage.bytes.removeAll(keepingCapacity: true)
                    storage.bytes.append(contentsOf: first)
                    var frame = SessionFrame(kind: .data, channel: id, payload: storage.bytes[...])
                    frame.storage = storage
                    channel.outgoing.append(frame)
                    channel.outgoingBytes += first.count
                }
                monitor.broadcast()  // the writer: the open goes now, not with the next frame
                return id
            }
        } catch {
            local.close()
            throw error
        }
    }

    /// Tells the peer something on the control channel.
    /// Tells the peer something on the control channel. A session whose control queue
    /// is full (the peer reads nothing, or asks faster than it reads) ends.
    public func send(_ message: ControlMessage) {
        let queued = monitor.withLock {
            defer { monitor.broadcast() }
            return queueControl(message)
        }
        if !queued {
            finish("\(peerName): more than \(configuration.maxQueuedControlBytes) bytes of control messages unsent")
        }
    }

    /// Ends the session for good: says goodbye (waiting up to a second for it to leave),
    /// closes every channel and the connection.
    public func end(reason: String, tellPeer: Bool = true) {
        if tellPeer {
            monitor.withLock {
                guard endReason == nil, connection != nil else { return }
                ending = true
                _ = queueControl(.goodbye(reason: reason))
                monitor.broadcast()
                // Until the goodbye is written, not just taken: a writer holds the frames
                // it took until its write returns (closing the stream under it lost the
                // goodbye, and the server kept the laptop's devices for its grace period).
                let deadline = monotonicSeconds() + 1
                while connection != nil, !control.isEmpty || resendCursor < unacked.count || writing,
                    monotonicSeconds() < deadline
                {
                    monitor.wait(seconds: 0.05)
                }
            }
        }
        finish(reason)
    }

    /// Blocks until the session has ended; returns why.
    public func waitUntilEnded() -> String {
        monitor.withLock {
            while endReason == nil { monitor.wait() }
            return endReason!
        }
    }

    // MARK: - Internals (called with the monitor held unless said otherwise)

    /// False, queueing nothing, when the control queue is full.
    @discardableResult
    func queueControl(_ message: ControlMessage) -> Bool {
        let payload = message.encoded
        guard controlBytes + payload.count <= configuration.maxQueuedControlBytes else { return false }
        control.append(SessionFrame(kind: .data, channel: 0, payload: payload))
        controlBytes += payload.count
        return true
    }

    func startChannel(_ id: UInt16, end: ChannelEnd) {
        let channel = SessionChannel(id: id, end: end)
        channels[id] = channel
        if let local = channel.local { startSocketChannel(channel, local) }
    }

    func acknowledge(through number: UInt64) {
        while let oldest = unacked.first?.number, oldest <= number {
            var frame = unacked.removeFirst()
            unackedBytes -= SessionFrame.headerLength + frame.payload.count
            resendCursor = max(0, resendCursor - 1)
            guard var storage = frame.storage else { continue }
            // The frame lets go of its slice first: the storage is kept only if no other
            // frame (the rest of the same message) still holds one.
            frame = SessionFrame(kind: .ack)
            payloadPool.giveBack(&storage)
        }
    }

    /// Not locked: ends everything, once.
    func finish(_ reason: String) {
        let closing:
            (
                stream: (any ByteStream)?, locals: [Socket], handlers: [any ChannelHandler],
                poller: (thread: OSThread, wakeup: Wakeup)?
            )? = monitor.withLock {
                guard endReason == nil else { return nil }
                endReason = reason
                let stream = connection?.stream
                connection = nil
                monitor.broadcast()
                var handlers: [any ChannelHandler] = []
                for channel in channels.values where !channel.outputDone {
                    if let handler = channel.handler {
                        channel.outputDone = true
                        handlers.append(handler)
                    }
                }
                return (stream, channels.values.compactMap(\.local), handlers, poller)
            }
        guard let closing else { return }
        closing.stream?.shutdown()
        for local in closing.locals { local.shutdown() }
        if let poller = closing.poller {
            poller.wakeup.signal()
            if !poller.thread.isCurrent { poller.thread.join() }
        }
        for handler in closing.handlers { handler.closed("the session ended: \(reason)") }
        logger.notice("session with \(peerName) ended: \(reason)")
        events.ended(reason)
    }

    /// Not locked: the connection of generation `g` failed.
    func connectionLost(generation g: Int, _ reason: String) {
        let stream: (any ByteStream)? = monitor.withLock {
            guard generation == g, let current = connection, endReason == nil, !ending else { return nil }
            if moving {
                lostWhileMoving = reason
                return nil
            }
            connection = nil
            disconnectedAt = monotonicSeconds()
            monitor.broadcast()
            return current.stream
        }
        guard let stream else { return }
        stream.shutdown()
        logger.notice(
            "session with \(peerName): connection lost (\(reason)); waiting up to \(Int(configuration.grace)) s")
        events.disconnected(reason)
        do { try OSThread.detach(name: "session-grace") { [self] in awaitReconnect(since: g) } } catch {
            finish("connection lost (\(reason)), and no thread to wait for another: \(error)")
        }
    }

    /// Ends the session if no new connection arrives within the grace period.
    private func awaitReconnect(since g: Int) {
        let expired: Bool = monitor.withLock {
            let deadline = monotonicSeconds() + configuration.grace
            while generation == g, endReason == nil, monotonicSeconds() < deadline {
                monitor.wait(seconds: deadline - monotonicSeconds())
            }
            return generation == g && endReason == nil
        }
        if expired { finish("no reconnection within \(Int(configuration.grace)) s") }
    }
}

/// What a session tells its owner. Called on the session's threads, never with its lock.
public struct SessionEvents: Sendable {
    /// Server: a channel was opened by the client; return where its bytes go (a handler
    /// that sends through the given sender, or a local socket to bridge), or nil to
    /// refuse. Called with the session locked: it must not call back into the session
    /// (the sender may be used once it has returned).
    public var openChannel: @Sendable (UInt16, ChannelSender) -> ChannelEnd?
    /// A control message for the owner (devices changed, addresses, hole punching), with
    /// the session it came on, to answer on.
    public var control: @Sendable (ControlMessage, Session) -> Void
    public var disconnected: @Sendable (String) -> Void
    /// The session continues on a new connection after the last one was lost; says how
    /// the new one runs.
    public var resumed: @Sendable (String) -> Void
    /// The session moved from a live connection to a new one (a better path); says how
    /// the new one runs.
    public var moved: @Sendable (String) -> Void
    public var ended: @Sendable (String) -> Void

    public init(
        openChannel: @escaping @Sendable (UInt16, ChannelSender) -> ChannelEnd? = { _, _ in nil },
        control: @escaping @Sendable (ControlMessage, Session) -> Void = { _, _ in },
        disconnected: @escaping @Sendable (String) -> Void = { _ in },
        resumed: @escaping @Sendable (String) -> Void = { _ in },
        moved: @escaping @Sendable (String) -> Void = { _ in },
        ended: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.openChannel = openChannel
        self.control = control
        self.disconnected = disconnected
        self.resumed = resumed
        self.moved = moved
        self.ended = ended
    }
}

public enum SessionError: Error, Equatable, Sendable, CustomStringConvertible {
    case ended(String)
    case cannotResume(String)
    case protocolViolation(String)
    case local(String)

    public var description: String {
        switch self {
        case .ended(let why): "the session has ended: \(why)"
        case .cannotResume(let why): "the session cannot resume: \(why)"
        case .protocolViolation(let why): "protocol violation: \(why)"
        case .local(let why): why
        }
    }
}
