import FileSystem
import OSThreads
import Sockets

#if canImport(Glibc)
    import Glibc
#endif

// The reader and writer threads of one connection (one generation of the session).
extension Session {
    func readLoop(_ stream: any ByteStream, generation g: Int) {
        var decoder = SessionFrameDecoder()
        // A socket channel's payloads from one read, written together (`LocalWrites`).
        var localWrites = LocalWrites()
        while true {
            // Its slices lie in the decoder's buffer: written before the next read.
            flush(&localWrites)
            let n: Int
            do { n = try decoder.read(from: stream) } catch let error as SystemError
                where error.errno == EAGAIN || error.errno == EWOULDBLOCK
            {
                connectionLost(generation: g, "nothing heard for \(Int(configuration.deadAfter)) s")
                return
            } catch {
                connectionLost(generation: g, "\(error)")
                return
            }
            guard n > 0 else {
                connectionLost(generation: g, "closed by the peer")
                return
            }
            // One reading of the clock per read, not per frame, and the coarse clock: on
            // a machine whose clock source has no vDSO reading (the test guest's HPET) a
            // fine reading is a system call, three of them per frame until 2026-12-07.
            var heard = coarseMonotonicSeconds()
            do {
                while let frame = try decoder.next() {
                    // A channel's end, a control message or another channel's bytes
                    // come after what waits has reached its socket.
                    if !localWrites.mayJoin(frame) { flush(&localWrites) }
                    var notices: [ControlMessage] = []
                    var delivery: Delivery?
                    let stale = try monitor.withLock { () throws(SessionError) -> Bool in
                        guard generation == g, endReason == nil else { return true }
                        bytesReceived += UInt64(SessionFrame.headerLength + frame.payload.count)
                        if try receive(frame, heardAt: heard, notices: &notices, delivery: &delivery) {
                            monitor.broadcast()
                        }
                        if delivery?.callsHandler == true {
                            if readersInHandlers == 0 { inHandlerSince = heard }
                            readersInHandlers += 1
                        }
                        return false
                    }
                    if stale {
                        flush(&localWrites)  // counted as received: a new connection will not resend them
                        return
                    }
                    if case .write(let channel, let local, let bytes) = delivery {
                        if !localWrites.add(bytes, for: channel, local) {
                            flush(&localWrites)
                            _ = localWrites.add(bytes, for: channel, local)
                        }
                    } else if let delivery {
                        flush(&localWrites)
                        // A handler that holds the reader keeps this end from hearing the
                        // peer (the writer does not count that as silence): worth a line.
                        let start = heard
                        deliver(delivery)
                        // The frames after it in this read count as heard now, as the
                        // next read's would.
                        heard = coarseMonotonicSeconds()
                        if heard - start > 1 {
                            logger.debug("\(peerName): a delivery held the session's reader \(heard - start) s")
                        }
                    }
                    for notice in notices { handleNotice(notice) }
                }
            } catch {
                flush(&localWrites)
                finish("\(peerName): \(error)")
                return
            }
        }
    }

    /// Consecutive payloads of one socket channel taken from one read of the stream, to
    /// be written into its socket in one gathered send: a 64 KiB transfer arrives as
    /// four or five frames, and one write of all of them wakes the socket's reader (the
    /// kernel's vhci_hcd) once instead of once per frame. The slices lie in the reader's
    /// decoder; the array keeps its capacity, so steady use allocates nothing.
    struct LocalWrites {
        private(set) var channel: SessionChannel?
        private(set) var local: Socket?
        var parts: [ArraySlice<UInt8>] = []
        /// Enough for a 64 KiB transfer's frames and a run of small ones; the vectors of
        /// one send live on the stack.
        static let maxParts = 32

        var isEmpty: Bool { parts.isEmpty }

        /// Whether `frame` may be taken before what waits is written: more of the same
        /// channel's bytes, or a frame that never reaches a socket (an ack, a credit, a
        /// ping or pong between the data frames of a stream).
        func mayJoin(_ frame: SessionFrame) -> Bool {
            guard let channel else { return true }
            switch frame.kind {
            case .ack, .credit, .ping, .pong: return true
            case .data: return !frame.isFin && frame.channel == channel.id
            case .hello: return false
            }
        }

        /// Adds `bytes` for `channel`; false when they must wait for what is there to be
        /// written first (another channel, or no room).
        mutating func add(_ bytes: ArraySlice<UInt8>, for channel: SessionChannel, _ local: Socket) -> Bool {
            if let waiting = self.channel, waiting !== channel || parts.count >= Self.maxParts { return false }
            self.channel = channel
            self.local = local
            parts.append(bytes)
            return true
        }

        mutating func removeAll() {
            parts.removeAll(keepingCapacity: true)
            channel = nil
            local = nil
        }
    }

    private func flush(_ writes: inout LocalWrites) {
        guard let channel = writes.channel, let local = writes.local else { return }
        write(&writes.parts, to: channel, local)
        writes.removeAll()
    }

    /// What a frame brings to a channel handled in this process, handed over once the
    /// lock is released.
    enum Delivery {
        /// The bytes lie in the reader's decoder: a handler that keeps them copies them.
        case bytes(SessionChannel, any ChannelHandler, ArraySlice<UInt8>)
        case closed(any ChannelHandler, String)
        /// Into a socket channel's local socket.
        case write(SessionChannel, Socket, ArraySlice<UInt8>)

        var callsHandler: Bool {
            switch self {
            case .bytes, .closed: true
            case .write: false
            }
        }
    }

    /// Not locked: on the reader thread, in the order the frames came. A handler's call
    /// was counted in `readersInHandlers` when the delivery was decided; its end is
    /// counted here, and the peer counts as heard from then on (what it sent meanwhile
    /// waits unread in the socket).
    private func deliver(_ delivery: Delivery) {
        switch delivery {
        case .bytes(let channel, let handler, let bytes):
            handler.received(bytes)
            monitor.withLock {
                consumed(bytes.count, by: channel)
                leftHandler()
            }
        case .closed(let handler, let reason):
            handler.closed(reason)
            monitor.withLock { leftHandler() }
        case .write(let channel, let local, let bytes):
            var parts = [bytes]
            write(&parts, to: channel, local)
        }
    }

    /// Monitor held.
    private func leftHandler() {
        readersInHandlers -= 1
        lastReceived = max(lastReceived, coarseMonotonicSeconds())
    }

    /// One frame from the peer (monitor held). Control messages that need the owner are
    /// collected into `notices`, and what a handled channel gets into `delivery`, both
    /// handled after the lock is released. True when the writer has something new to do
    /// (a pong, an ack that is due, a window that opened on a frame it held back): a data frame alone does not
    /// wake it, so its ack waits to go out with the next frame this end writes (the
    /// reply, usually) instead of taking a write, a record and a wake-up of its own.
    func receive(
        _ frame: SessionFrame, heardAt: Double = coarseMonotonicSeconds(), notices: inout [ControlMessage],
        delivery: inout Delivery?
    ) throws(SessionError) -> Bool {
        lastReceived = heardAt
        switch frame.kind {
        case .hello:
            throw .protocolViolation("a second hello")
        case .ack:
            guard frame.number < nextNumber else {
                throw .protocolViolation("ack of frame \(frame.number), only \(nextNumber - 1) sent")
            }
            let writerPaused = unackedBytes >= configuration.maxUnackedBytes
            acknowledge(through: frame.number)
            return writerPaused
        case .ping:
            if pongs.count < 8 { pongs.append(frame.number) }
            return true
        case .pong:
            let sent = Double(frame.number) / 1e9
            let now = monotonicSeconds()
            if sent <= now, now - sent < 600 { roundTripTime = now - sent }
            return false
        case .credit:
            guard let channel = channels[frame.channel] else { return false }  // closed meanwhile
            guard frame.number <= channel.sentBytes else {
                throw .protocolViolation(
                    "credit for \(frame.number) bytes on channel \(frame.channel), "
                        + "only \(channel.sentBytes) sent")
            }
            // Only a window that held something back needs anyone woken: a frame the writer
            // may not take yet, or a local socket the poller stopped reading. An idle
            // end's credit (sent with every reply) would otherwise wake this end's writer,
            // which would answer with an idle ack and credit of its own: a record and a
            // wake-up each way per round trip, seen in the guest's traces.
            let window = configuration.channelWindow
            let writerHeld = !channel.outgoing.isEmpty && !channel.mayTakeFrame(window: window)
            let pollerHeld = channel.local != nil && channel.queuedAhead >= window
            channel.peerConsumed = max(channel.peerConsumed, frame.number)
            if pollerHeld { wakePoller() }
            return writerHeld
        case .data:
            if frame.number <= receivedThrough { return false }  // sent again after a resume
            guard frame.number == receivedThrough + 1 else {
                throw .protocolViolation("frame \(frame.number) after \(receivedThrough)")
            }
            receivedThrough = frame.number
            let ackDue = receivedThrough - lastAckSent >= configuration.ackEvery
            if frame.channel == 0 {
                let message: ControlMessage
                do throws(SessionFrameError) { message = try ControlMessage(decoding: Array(frame.payload)) } catch {
                    throw .protocolViolation("\(error)")
                }
                try handleControl(message, notices: &notices)
                return true  // a refusal may be queued, or the ack due
            } else if let channel = channels[frame.channel], !channel.finReceived {
                if frame.isFin {
                    channel.finReceived = true
                    if let handler = channel.handler {
                        // The peer is done with it: so is this end.
                        if !channel.outputDone {
                            channel.outputDone = true
                            delivery = .closed(handler, "the peer closed the channel")
                        }
                        if !channel.finQueued { channel.queueFin(self) }
                        removeIfClosed(channel)
                    } else if !channel.outputDone, channel.incoming.isEmpty, channel.heldByReader == nil {
                        // Everything before it is written (the reader wrote it, in order):
                        // the local end is done. Otherwise the poller ends it once written,
                        // or an earlier connection's reader once it has written its part.
                        channel.endOutput(self)
                    }
                } else {
                    channel.receivedBytes += UInt64(frame.payload.count)
                    guard channel.receivedBytes - channel.creditSent <= UInt64(configuration.channelWindow) else {
                        throw .protocolViolation("channel \(frame.channel) overran its window")
                    }
                    if channel.outputDone {
                        // Nobody takes it any more; the channel is closing.
                    } else if let handler = channel.handler {
                        delivery = .bytes(channel, handler, frame.payload)
                    } else if let local = channel.local {
                        if channel.incoming.isEmpty, channel.heldByReader == nil || channel.heldByReader == generation {
                            delivery = .write(channel, local, frame.payload)
                            channel.heldByReader = generation
                        } else {
                            channel.incoming.append(Array(frame.payload))  // after what waits
                        }
                    }
                }
            }
            // Data for a channel that is gone (refused, or closed here first) is dropped.
            return ackDue
        }
    }

    /// Monitor held. A peer whose refusals pile up unread is cut off.
    private func refuse(_ channel: UInt16, _ reason: String) throws(SessionError) {
        guard queueControl(.refused(channel: channel, reason: reason)) else {
            throw .protocolViolation("opens channels faster than it reads the refusals")
        }
    }

    private func handleControl(_ message: ControlMessage, notices: inout [ControlMessage]) throws(SessionError) {
        switch message {
        case .open(let id):
            guard role == .server else { throw .protocolViolation("the server opened a channel") }
            guard channels[id] == nil, id >= nextChannel else {
                throw .protocolViolation("channel \(id) opened twice")
            }
            nextChannel = id &+ 1
            guard channels.count < configuration.maxChannels else {
                try refuse(id, "too many channels")
                return
            }
            guard let end = events.openChannel(id, ChannelSender(session: self, channel: id)) else {
                try refuse(id, "the server cannot serve it now")
                return
            }
            startChannel(id, end: end)
        case .refused(let id, let reason):
            guard role == .client else { throw .protocolViolation("the client refused a channel") }
            logger.warning("\(peerName) refused channel \(id): \(reason)")
            if let channel = channels[id], !channel.finReceived {
                channel.finReceived = true
                if !channel.outputDone { channel.endOutput(self) }
            }
        case .addresses, .deviceNames, .sync, .sharing, .sharingResult, .auditRequest, .auditPart, .devicesChanged,
            .goodbye, .punch:
            if let (receiver, what) = Self.onlyReceivedBy(message), receiver != role {
                throw .protocolViolation("the \(role == .server ? "client" : "server") sent \(what)")
            }
            notices.append(message)
        }
    }

    /// The side a notice is meant for and what it is called, for the messages only one
    /// side may send; nil for those either side sends.
    private static func onlyReceivedBy(_ message: ControlMessage) -> (Role, String)? {
        switch message {
        case .addresses: (.client, "addresses")
        case .deviceNames: (.client, "device names")
        case .sync: (.server, "a sync")
        case .sharing: (.server, "a sharing request")
        case .sharingResult: (.client, "a sharing result")
        case .auditRequest: (.server, "an audit request")
        case .auditPart: (.client, "an audit part")
        case .open, .refused, .devicesChanged, .goodbye, .punch: nil
        }
    }

    private func handleNotice(_ message: ControlMessage) {
        if case .goodbye(let reason) = message {
            finish("\(peerName) ended it: \(reason)")
        } else {
            events.control(message, self)
        }
    }

    /// Frames ready together go out in one write (one TLS record run, one system call),
    /// up to about this many bytes: enough for a 64 KiB transfer and its header.
    static let writeBatchBytes = 64 * 1024 + 2 * SessionFrame.maxPayload
    /// While several channels are open, a write ends after about one TLS record: a frame
    /// that becomes ready meanwhile (a keyboard's report behind a stick's data) waits for
    /// the record being encrypted, not for a whole batch to be encrypted, sent and
    /// decrypted.
    static let sharedBatchBytes = SessionFrame.headerLength + SessionFrame.maxPayload

    func writeLoop(_ stream: any ByteStream, generation g: Int) {
        // Reused: its capacity stays, so steady sending allocates nothing here.
        var batch: [UInt8] = []
        while true {
            let ready: Bool = monitor.withLock {
                while true {
                    guard generation == g, endReason == nil else { return false }
                    let now = monotonicSeconds()
                    if peerSilent(at: now) { return false }
                    if !writing {
                        if !carried.isEmpty || streamHolding {
                            // What a producer's write left: first (an empty batch still
                            // sends what the stream holds).
                            swap(&batch, &carried)
                            carried.removeAll(keepingCapacity: true)
                            streamHolding = false
                            writing = true
                            return true
                        }
                        batch.removeAll(keepingCapacity: true)
                        let limit = channels.count > 1 ? Self.sharedBatchBytes : Self.writeBatchBytes
                        if fillBatch(&batch, now: now, limit: limit) {
                            writing = true
                            return true
                        }
                    }
                    // (While a reader is excused, silence counts from its allowance's end.)
                    let silentAt =
                        readerExcused(at: now)
                        ? inHandlerSince + configuration.handlerAllowance : lastReceived + configuration.deadAfter
                    monitor.wait(seconds: min(nextPing, silentAt) - now + 0.01)
                }
            }
            guard ready else {
                let silent = monitor.withLock {
                    generation == g && endReason == nil && peerSilent(at: monotonicSeconds())
                }
                if silent { connectionLost(generation: g, "nothing heard for \(Int(configuration.deadAfter)) s") }
                return
            }
            do {
                try stream.writeAll(batch)
                monitor.withLock {
                    writing = false
                    bytesSent += UInt64(batch.count)
                    if ending { monitor.broadcast() }  // `end` waits for its goodbye's write
                }
            } catch {
                monitor.withLock {
                    writing = false
                    monitor.broadcast()
                }
                connectionLost(generation: g, "\(error)")
                return
            }
        }
    }

    /// Nothing heard from the peer for `deadAfter` while a reader was listening (or a
    /// handler has held it beyond its allowance): the connection is taken for dead.
    /// Monitor held.
    private func peerSilent(at now: Double) -> Bool {
        !readerExcused(at: now) && now - lastReceived > configuration.deadAfter
    }

    private func readerExcused(at now: Double) -> Bool {
        readersInHandlers > 0 && now - inHandlerSince < configuration.handlerAllowance
    }

    /// Frames ready now, encoded into `batch` up to about `limit` bytes; false when there
    /// are none. Monitor held.
    private func fillBatch(_ batch: inout [UInt8], now: Double, limit: Int) -> Bool {
        guard let frame = nextFrame(now: now) else { return false }
        frame.encode(into: &batch)
        while batch.count < limit, let more = nextFrame(now: now) { more.encode(into: &batch) }
        return true
    }

    /// A frame this small is written by the thread that made it, when nobody is writing
    /// (`writeNowOrWake`); larger ones go to the writer thread, so a bulk stream's
    /// encryption runs beside the USB thread and the poller, not on them.
    static let inlineFrameBytes = ChannelScheduler.sparseBytes
    /// What such a producer writes at most in one go (the frame and what is ready with
    /// it: an ack, a credit), and how many goes before it leaves the rest to the writer.
    static let inlineBatchBytes = 4 * 1024
    static let inlineRounds = 4

    /// Not locked. A producer that queued a small frame (a control transfer's reply, an
    /// interrupt URB, a 512-byte round trip): when nobody is writing and the stream can
    /// write without blocking, it writes what is ready itself, instead of waking the
    /// writer thread (one hand-off between threads less per round trip, on each side).
    /// Otherwise it wakes the writer. Never blocks on the network: what the socket cannot
    /// take now is left for the writer. (It may wait for the TLS state's lock while the
    /// reader decrypts a record.)
    func writeNowOrWake() {
        let start: (stream: any ByteStream, generation: Int)? = monitor.withLock {
            guard endReason == nil, !writing, let current = connection, !current.threads.isEmpty,
                current.stream.writesWithoutBlocking, carried.isEmpty, !streamHolding
            else {
                monitor.broadcast()
                return nil
            }
            inlineBatch.removeAll(keepingCapacity: true)
            guard fillBatch(&inlineBatch, now: coarseMonotonicSeconds(), limit: Self.inlineBatchBytes) else {
                return nil
            }
            writing = true
            return (current.stream, generation)
        }
        guard let (stream, g) = start else { return }
        var rounds = 1
        while true {
            let result: (taken: Int, holding: Bool)
            do { result = try stream.writeWithoutBlocking(inlineBatch[...]) } catch {
                monitor.withLock {
                    writing = false
                    monitor.broadcast()
                }
                connectionLost(generation: g, "\(error)")
                return
            }
            let again: Bool = monitor.withLock {
                writing = false
                guard generation == g, endReason == nil else {
                    // A new connection resends these frames; its writer may be waiting.
                    monitor.broadcast()
                    return false
                }
                bytesSent += UInt64(result.taken)
                if result.taken < inlineBatch.count || result.holding {
                    carried.append(contentsOf: inlineBatch[result.taken...])
                    streamHolding = streamHolding || result.holding
                    monitor.broadcast()
                    return false
                }
                // What became ready meanwhile (its producer saw this write under way).
                inlineBatch.removeAll(keepingCapacity: true)
                guard fillBatch(&inlineBatch, now: coarseMonotonicSeconds(), limit: Self.inlineBatchBytes) else {
                    return false
                }
                // A bulk frame among them (sent while the writer was between two writes),
                // or enough rounds: the writer thread takes over.
                guard rounds < Self.inlineRounds, inlineBatch.count <= Self.inlineBatchBytes else {
                    carried.append(contentsOf: inlineBatch)
                    monitor.broadcast()
                    return false
                }
                writing = true
                return true
            }
            if !again { return }
            rounds += 1
        }
    }

    /// What to send next, by priority: pongs, pings, due acks and credits (small, and
    /// what keep the peer's sending going); frames to send again after a resume; then
    /// new frames, control first, the channels in turn so no device starves another.
    /// Nil when there is nothing to send now. Monitor held.
    private func nextFrame(now: Double) -> SessionFrame? {
        if !pongs.isEmpty { return SessionFrame(kind: .pong, number: pongs.removeFirst()) }
        if now >= nextPing {
            nextPing = now + configuration.pingInterval
            // The peer's pong returns this stamp, taken with the fine clock (`now` may be
            // the coarse one, a producer's write).
            return SessionFrame(kind: .ping, number: UInt64(monotonicSeconds() * 1e9))
        }
        if receivedThrough - lastAckSent >= configuration.ackEvery { return ack() }
        for channel in channels.values where channel.creditUnconfirmed {
            channel.creditUnconfirmed = false
            channel.creditSent = channel.consumed
            return SessionFrame(kind: .credit, channel: channel.id, number: channel.consumed)
        }
        for channel in channels.values where channel.consumed - channel.creditSent >= creditStep {
            channel.creditSent = channel.consumed
            return SessionFrame(kind: .credit, channel: channel.id, number: channel.consumed)
        }
        if resendCursor < unacked.count {
            resendCursor += 1
            return unacked[resendCursor - 1]
        }
        if unackedBytes < configuration.maxUnackedBytes, var frame = takeNewFrame() {
            frame.number = nextNumber
            nextNumber += 1
            unacked.append(frame)
            unackedBytes += SessionFrame.headerLength + frame.payload.count
            resendCursor = unacked.count
            return frame
        }
        // Idle: acknowledge and credit whatever is left, so the peer can free its buffers.
        if receivedThrough > lastAckSent { return ack() }
        for channel in channels.values where channel.consumed > channel.creditSent {
            channel.creditSent = channel.consumed
            return SessionFrame(kind: .credit, channel: channel.id, number: channel.consumed)
        }
        return nil
    }

    private func ack() -> SessionFrame {
        lastAckSent = receivedThrough
        return SessionFrame(kind: .ack, number: receivedThrough)
    }

    private func takeNewFrame() -> SessionFrame? {
        if !control.isEmpty {
            let frame = control.removeFirst()
            controlBytes -= frame.payload.count
            return frame
        }
        let ready = ReadyChannels(channels: channels.values, window: configuration.channelWindow)
        guard let id = scheduler.next(among: ready), let channel = channels[id] else { return nil }
        let frame = channel.outgoing.removeFirst()
        channel.outgoingBytes -= frame.payload.count
        channel.sentBytes += UInt64(frame.payload.count)
        removeIfClosed(channel)
        return frame
    }
}

/// The channels that may send a frame now, as the scheduler sees them. A sequence of its
/// own rather than a lazy filter and map: their closures cost two allocations on every
/// call, and the writer asks after every frame it takes.
struct ReadyChannels: Sequence, IteratorProtocol {
    var channels: Dictionary<UInt16, SessionChannel>.Values.Iterator
    let window: Int

    init(channels: Dictionary<UInt16, SessionChannel>.Values, window: Int) {
        self.channels = channels.makeIterator()
        self.window = window
    }

    mutating func next() -> ChannelScheduler.Ready? {
        while let channel = channels.next() {
            guard channel.mayTakeFrame(window: window) else { continue }
            return ChannelScheduler.Ready(
                id: channel.id, queuedBytes: channel.outgoingBytes,
                frameBytes: channel.outgoing.first?.payload.count ?? 0)
        }
        return nil
    }
}
