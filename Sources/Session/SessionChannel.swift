import OSThreads
import Sockets

/// One channel's state and its two threads: `pump` reads the local socket into frames
/// (only as far as the peer's window allows), `output` writes received frames to the
/// local socket and reports what it consumed, which opens the peer's window again.
/// Guarded by the session's monitor.
final class SessionChannel: @unchecked Sendable {
    let id: UInt16
    let local: Socket
    var outgoing: [SessionFrame] = []
    /// Bytes queued towards the peer, and the peer's count of bytes it consumed.
    var sentBytes: UInt64 = 0
    var peerConsumed: UInt64 = 0
    var incoming: [[UInt8]] = []
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
    var outputDone = false

    init(id: UInt16, local: Socket) {
        self.id = id
        self.local = local
    }

    var isClosed: Bool { finQueued && outputDone }

    /// Called with the session's monitor held. A channel that cannot have both its
    /// threads is closed at once: its local end shut, a FIN to the peer.
    func start(in session: Session) {
        do {
            try OSThread.detach(name: "channel-out") { [self] in output(session) }
        } catch {
            session.logger.warning("channel \(id): \(error); closing it")
            local.shutdown()
            outputDone = true
            queueFin(session)
            return
        }
        do { try OSThread.detach(name: "channel-in") { [self] in pump(session) } } catch {
            session.logger.warning("channel \(id): \(error); closing it")
            local.shutdown()
            queueFin(session)
        }
    }

    /// Called with the session's monitor held.
    private func queueFin(_ session: Session) {
        outgoing.append(SessionFrame(kind: .data, flags: SessionFrame.finFlag, channel: id))
        finQueued = true
        session.removeIfClosed(self)
        session.monitor.broadcast()
    }

    /// Local socket → frames.
    private func pump(_ session: Session) {
        let window = session.configuration.channelWindow
        while true {
            let room: Int? = session.monitor.withLock {
                while session.endReason == nil, !finQueued, Int(sentBytes - peerConsumed) >= window {
                    session.monitor.wait()
                }
                guard session.endReason == nil, !finQueued else { return nil }
                return min(SessionFrame.maxPayload, window - Int(sentBytes - peerConsumed))
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
                    sentBytes += UInt64(n)
                    session.monitor.broadcast()
                } else {
                    queueFin(session)
                }
            }
            if n == 0 { return }
        }
    }

    /// Frames → local socket.
    private func output(_ session: Session) {
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
}
