import DequeModule
import OSThreads
import Sockets

/// Where a channel's bytes go at this end.
public enum ChannelEnd: Sendable {
    /// A local socket (the kernel's vhci side on the laptop). The session's reader writes
    /// the peer's bytes straight into it; the session's one poller thread reads what
    /// every local socket has (as far as the peer's window allows) and writes what the
    /// reader could not.
    case socket(Socket)
    /// A handler in this process (the server's USB/IP connections): bytes from the peer
    /// are handed to it on the session's reader thread, and what it sends through its
    /// `ChannelSender` is framed straight into the session. No socket, no thread.
    case handler(any ChannelHandler)
}

/// The far end of a channel handled in this process.
public protocol ChannelHandler: AnyObject, Sendable {
    /// Bytes from the peer, in order. Called on the session's reader thread with the
    /// session unlocked; the session's other channels wait meanwhile, so it must not
    /// block for long. Not called again once `closed` has been. The bytes lie in the
    /// reader's buffer: a handler that keeps them past the call copies them.
    func received(_ bytes: ArraySlice<UInt8>)
    /// The channel is over: the peer ended it, this end closed it (`ChannelSender.close`)
    /// or the session ended. Called once, on any thread, possibly from inside the
    /// handler's own `send` or `close` (so it must not wait for the handler's locks).
    func closed(_ reason: String)
}

/// How a channel's handler sends to the peer. It holds the session weakly: a handler
/// that outlives its session sends into nothing.
public final class ChannelSender: @unchecked Sendable {
    // Set once in init, read without a lock.
    private weak var session: Session?
    public let channel: UInt16

    init(session: Session, channel: UInt16) {
        self.session = session
        self.channel = channel
    }

    /// Queues `bytes` for the peer (framed, in order), never blocking. False when the
    /// channel or session is over, or when more than the session's
    /// `maxQueuedChannelBytes` would wait: the channel is then closed (the peer reads
    /// nothing while this end produces).
    @discardableResult
    public func send(_ bytes: some Collection<UInt8>) -> Bool {
        send(byteCount: bytes.count) { $0.append(contentsOf: bytes) }
    }

    /// Sends what `encode` appends to the (empty) array it is given: storage the session
    /// reuses once the peer has acknowledged it, so a steady stream of messages allocates
    /// nothing. `byteCount` is how much it will write, which chooses the storage (what is
    /// written is what is sent: more than said only grows the array).
    @discardableResult
    public func send(byteCount: Int, encode: (inout [UInt8]) -> Void) -> Bool {
        session?.send(byteCount: byteCount, onChannel: channel, encode: encode) ?? false
    }

    /// Ends the channel from this end: what was sent before still goes out, then the end
    /// of the channel. The handler's `closed` follows.
    public func close() {
        session?.closeHandledChannel(channel, reason: "closed by this end")
    }
}

/// One channel's state, guarded by the session's monitor.
final class SessionChannel: @unchecked Sendable {
    let id: UInt16
    let end: ChannelEnd
    var outgoing: Deque<SessionFrame> = []
    /// Payload bytes in `outgoing`.
    var outgoingBytes = 0
    /// Bytes sent to the peer (frames taken from `outgoing`), and the peer's count of
    /// bytes it consumed: a frame goes out only while their difference stays within the
    /// window.
    var sentBytes: UInt64 = 0
    var peerConsumed: UInt64 = 0
    /// A socket channel's bytes from the peer that its socket had no room for yet, in
    /// order; `incomingOffset` bytes of the first are written already. Only the poller
    /// writes them; the reader writes straight into the socket only while this is empty.
    var incoming: Deque<[UInt8]> = []
    var incomingOffset = 0
    /// The connection generation whose reader holds bytes of this channel it has yet to
    /// write into the socket (`Session.LocalWrites`), nil when none: a newer
    /// connection's reader (the session moved) queues its bytes in `incoming` behind
    /// them, and the poller leaves `incoming` alone until they are written.
    var heldByReader: Int?
    /// Bytes received in all, written to the local socket (or handed to the handler), and
    /// consumed as last told to the peer: the peer may send up to `creditSent + window`
    /// in all.
    var receivedBytes: UInt64 = 0
    var consumed: UInt64 = 0
    var creditSent: UInt64 = 0
    /// A new connection took over: credits written to the old one may never have
    /// arrived, and without them the peer's sender waits for ever. Credits are totals, so
    /// the latest is sent again first thing (the peer keeps the largest).
    var creditUnconfirmed = false
    var finQueued = false
    var finReceived = false
    /// Nothing more is delivered to this end (its socket was shut, or the handler was
    /// told `closed`).
    var outputDone = false

    init(id: UInt16, end: ChannelEnd) {
        self.id = id
        self.end = end
    }

    var local: Socket? {
        if case .socket(let socket) = end { socket } else { nil }
    }

    var handler: (any ChannelHandler)? {
        if case .handler(let handler) = end { handler } else { nil }
    }

    var isClosed: Bool { finQueued && outputDone }

    /// Whether the next outgoing frame may go now: the peer's window has room for it
    /// (an end-of-channel frame always may).
    func mayTakeFrame(window: Int) -> Bool {
        guard let first = outgoing.first else { return false }
        return first.payload.isEmpty || sentBytes + UInt64(first.payload.count) - peerConsumed <= UInt64(window)
    }

    /// Called with the session's monitor held.
    func queueFin(_ session: Session) {
        outgoing.append(SessionFrame(kind: .data, flags: SessionFrame.finFlag, channel: id))
        finQueued = true
        session.removeIfClosed(self)
        session.monitor.broadcast()
    }

    /// Bytes sent or queued that the peer has not consumed (monitor held).
    var queuedAhead: Int { Int(sentBytes - peerConsumed) + outgoingBytes }

    /// A socket channel's local end is done receiving (the peer ended the channel, or
    /// a write failed): shut it, which also makes its next read return 0 and so queues
    /// this end's FIN. Monitor held.
    func endOutput(_ session: Session) {
        local?.shutdown()
        outputDone = true
        incoming.removeAll()
        incomingOffset = 0
        session.removeIfClosed(self)
        session.monitor.broadcast()
        session.wakePoller()
    }
}

extension Session {
    /// Forgets a channel once both ends are done with it (monitor held).
    func removeIfClosed(_ channel: SessionChannel) {
        if channel.isClosed && channel.outgoing.isEmpty { channels[channel.id] = nil }
    }

    /// `ChannelSender.send(byteCount:encode:)`: not locked. `encode` writes into storage
    /// from the pool, outside the lock; the frames are slices of it (no copy), each
    /// keeping it until acknowledged.
    func send(byteCount: Int, onChannel id: UInt16, encode: (inout [UInt8]) -> Void) -> Bool {
        let storage = monitor.withLock { payloadPool.take(capacity: byteCount) }
        storage.bytes.removeAll(keepingCapacity: true)
        encode(&storage.bytes)
        let count = storage.bytes.count
        let outcome: Bool? = monitor.withLock {
            guard endReason == nil, let channel = channels[id], channel.handler != nil, !channel.finQueued else {
                return false
            }
            guard channel.outgoingBytes + count <= configuration.maxQueuedChannelBytes else { return nil }
            // No frame larger than the window, or it could never go.
            let largest = min(SessionFrame.maxPayload, configuration.channelWindow)
            var rest = storage.bytes[...]
            while !rest.isEmpty {
                var frame = SessionFrame(kind: .data, channel: id, payload: rest.prefix(largest))
                frame.storage = storage
                rest = rest.dropFirst(frame.payload.count)
                channel.outgoing.append(frame)
            }
            channel.outgoingBytes += count
            // A small frame goes out from this thread if it can (`writeNowOrWake`).
            if count > Self.inlineFrameBytes { monitor.broadcast() }
            return true
        }
        if outcome == true, count <= Self.inlineFrameBytes { writeNowOrWake() }
        guard let outcome else {
            logger.warning(
                "\(peerName) channel \(id): cut off: more than \(configuration.maxQueuedChannelBytes) bytes unsent")
            closeHandledChannel(id, reason: "more than \(configuration.maxQueuedChannelBytes) bytes unsent")
            return false
        }
        return outcome
    }

    /// `ChannelSender.close`, or a handled channel cut off: not locked.
    func closeHandledChannel(_ id: UInt16, reason: String) {
        let handler: (any ChannelHandler)? = monitor.withLock {
            guard endReason == nil, let channel = channels[id], let handler = channel.handler else { return nil }
            if !channel.finQueued { channel.queueFin(self) }
            guard !channel.outputDone else { return nil }
            channel.outputDone = true
            removeIfClosed(channel)
            return handler
        }
        handler?.closed(reason)
    }
}
