import DequeModule
import OSThreads
import Sockets

/// Where a channel's bytes go at this end.
public enum ChannelEnd: Sendable {
    /// A local socket (the kernel's vhci side on the laptop), bridged by two threads: a
    /// pump (socket → frames, as far as the peer's window allows) and an output (frames →
    /// socket, then reports what it consumed, which opens the peer's window again).
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
    /// block for long. Not called again once `closed` has been.
    func received(_ bytes: [UInt8])
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
        session?.send(bytes, onChannel: channel) ?? false
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
    var incoming: Deque<[UInt8]> = []
    var incomingBytes = 0
    /// Bytes received in all, written to the local socket, and consumed as last told to
    /// the peer: the peer may send up to `creditSent + window` in all.
    var receivedBytes: UInt64 = 0
    var consumed: UInt64 = 0
    var creditSent: UInt64 = 0
    /// A new connection took over: credits written to the old one may never have
    /// arrived, and without them the peer's sender waits for ever. Credits are totals, so
    /// the latest is sent again first thing (the peer keeps the largest).
    var creditUnconfirmed = false
    var finQueued = false
    var finReceived = false
    /// Nothing more is delivered to this end (the output thread ended, or the handler
    /// was told `closed`).
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

    /// Called with the session's monitor held. A socket channel that cannot have both
    /// its threads is closed at once: its local end shut, a FIN to the peer. A handler
    /// channel needs no thread.
    func start(in session: Session) {
        guard let local else { return }
        do {
            try OSThread.detach(name: "channel-out") { [self] in output(session, local) }
        } catch {
            session.logger.warning("channel \(id): \(error); closing it")
            local.shutdown()
            outputDone = true
            queueFin(session)
            return
        }
        do { try OSThread.detach(name: "channel-in") { [self] in pump(session, local) } } catch {
            session.logger.warning("channel \(id): \(error); closing it")
            local.shutdown()
            queueFin(session)
        }
    }

    /// Called with the session's monitor held.
    func queueFin(_ session: Session) {
        outgoing.append(SessionFrame(kind: .data, flags: SessionFrame.finFlag, channel: id))
        finQueued = true
        session.removeIfClosed(self)
        session.monitor.broadcast()
    }

    /// Local socket → frames.
    private func pump(_ session: Session, _ local: Socket) {
        let window = session.configuration.channelWindow
        while true {
            let room: Int? = session.monitor.withLock {
                while session.endReason == nil, !finQueued, queuedAhead >= window {
                    session.monitor.wait()
                }
                guard session.endReason == nil, !finQueued else { return nil }
                return min(SessionFrame.maxPayload, window - queuedAhead)
            }
            guard let room else { return }
            // Each frame owns its payload: read straight into it.
            var payload = [UInt8](repeating: 0, count: room)
            let n = (try? local.read(into: &payload)) ?? 0
            payload.removeLast(room - n)
            session.monitor.withLock {
                guard session.endReason == nil, !finQueued else { return }
                if n > 0 {
                    outgoing.append(SessionFrame(kind: .data, channel: id, payload: payload))
                    outgoingBytes += n
                    session.monitor.broadcast()
                } else {
                    queueFin(session)
                }
            }
            if n == 0 { return }
        }
    }

    /// Bytes sent or queued that the peer has not consumed (monitor held).
    private var queuedAhead: Int { Int(sentBytes - peerConsumed) + outgoingBytes }

    /// Frames → local socket.
    private func output(_ session: Session, _ local: Socket) {
        let window = session.configuration.channelWindow
        while true {
            let chunk: [UInt8]? = session.monitor.withLock {
                while session.endReason == nil, incoming.isEmpty, !finReceived { session.monitor.wait() }
                guard session.endReason == nil, !incoming.isEmpty else { return nil }
                return incoming.removeFirst()
            }
            guard let chunk else { break }
            let written: Bool
            do {
                try local.writeAll(chunk)
                written = true
            } catch {
                written = false
            }
            session.monitor.withLock {
                incomingBytes -= chunk.count
                consumed += UInt64(chunk.count)
                if consumed - creditSent >= UInt64(window / 4) { session.monitor.broadcast() }
            }
            if !written { break }
        }
        // The peer ended the channel, or the local side went away: stop both directions,
        // which also ends the pump (its read returns 0).
        local.shutdown()
        session.monitor.withLock {
            outputDone = true
            session.removeIfClosed(self)
            session.monitor.broadcast()
        }
    }
}

extension Session {
    /// Forgets a channel once both ends are done with it (monitor held).
    func removeIfClosed(_ channel: SessionChannel) {
        if channel.isClosed && channel.outgoing.isEmpty { channels[channel.id] = nil }
    }

    /// `ChannelSender.send`: not locked.
    func send(_ bytes: some Collection<UInt8>, onChannel id: UInt16) -> Bool {
        let outcome: Bool? = monitor.withLock {
            guard endReason == nil, let channel = channels[id], channel.handler != nil, !channel.finQueued else {
                return false
            }
            guard channel.outgoingBytes + bytes.count <= configuration.maxQueuedChannelBytes else { return nil }
            // No frame larger than the window, or it could never go.
            let largest = min(SessionFrame.maxPayload, configuration.channelWindow)
            var rest = bytes[...]
            while !rest.isEmpty {
                let piece = rest.prefix(largest)
                channel.outgoing.append(SessionFrame(kind: .data, channel: id, payload: Array(piece)))
                rest = rest.dropFirst(piece.count)
            }
            channel.outgoingBytes += bytes.count
            monitor.broadcast()
            return true
        }
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
