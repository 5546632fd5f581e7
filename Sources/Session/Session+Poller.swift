import FileSystem
import OSThreads
import Sockets

// The socket channels' side (the laptop's vhci sockets): one poller thread per session
// reads every local socket into frames, and writes the peer's bytes the reader could
// not write at once. No thread per channel.
extension Session {
    /// Starts a socket channel: non-blocking, watched by the poller (started with the
    /// first one). A channel that cannot be watched is closed at once: its local end
    /// shut, a FIN to the peer. Monitor held.
    func startSocketChannel(_ channel: SessionChannel, _ local: Socket) {
        do throws(SessionError) {
            do throws(SystemError) { try local.setNonBlocking() } catch { throw .local("\(error)") }
            if poller == nil {
                let wakeup: Wakeup
                do throws(SystemError) { wakeup = try Wakeup() } catch { throw .local("\(error)") }
                do throws(ThreadStartError) {
                    let thread = try OSThread.start(name: "session-poll") { [self] in pollLoop(wakeup) }
                    poller = (thread, wakeup)
                } catch { throw .local("\(error)") }
            }
            wakePoller()
        } catch {
            logger.warning("channel \(channel.id): \(error); closing it")
            channel.endOutput(self)
            channel.queueFin(self)
        }
    }

    /// Makes the poller look again at what to watch (a channel started, the peer's
    /// window opened, bytes wait to be written, the session ended). Monitor held; a
    /// poller that is busy looks anyway before it sleeps.
    func wakePoller() {
        guard pollerAsleep, let poller else { return }
        pollerAsleep = false
        poller.wakeup.signal()
    }

    private struct Watched {
        let channel: SessionChannel
        let local: Socket
        let read: Bool
        let write: Bool
    }

    private func pollLoop(_ wakeup: Wakeup) {
        var readiness = Readiness()
        var watched: [Watched] = []
        var interests: [Readiness.Interest] = []
        var scratch: FrameStorage?
        let window = configuration.channelWindow
        while true {
            let running: Bool = monitor.withLock {
                guard endReason == nil else { return false }
                watched.removeAll(keepingCapacity: true)
                for channel in channels.values {
                    guard let local = channel.local else { continue }
                    let read = !channel.finQueued && channel.queuedAhead < window
                    let write = !channel.outputDone && !channel.incoming.isEmpty && channel.heldByReader == nil
                    if read || write {
                        watched.append(Watched(channel: channel, local: local, read: read, write: write))
                    }
                }
                pollerAsleep = true
                return true
            }
            guard running else { return }
            interests.removeAll(keepingCapacity: true)
            interests.append(Readiness.Interest(descriptor: wakeup.descriptor, read: true, write: false))
            for entry in watched {
                interests.append(
                    Readiness.Interest(descriptor: entry.local.descriptor, read: entry.read, write: entry.write))
            }
            do { try readiness.wait(interests, seconds: nil) } catch {
                monitor.withLock { pollerAsleep = false }
                finish("watching the local sockets: \(error)")
                return
            }
            monitor.withLock { pollerAsleep = false }
            if !readiness.events(at: 0).isEmpty { wakeup.drain() }
            for (index, entry) in watched.enumerated() where !readiness.events(at: index + 1).isEmpty {
                if entry.write { flushIncoming(entry.channel, entry.local) }
                if entry.read { readLocal(entry.channel, entry.local, scratch: &scratch) }
            }
        }
    }

    /// Local socket → frames, as much as is there and the peer's window allows (a 64 KiB
    /// URB is several frames: read them all in one turn). Reads go into `scratch`, a
    /// frame's worth of storage the poller keeps: a large read becomes the frame's
    /// storage as it is (and the pool gives the poller another), a small one is copied
    /// into storage of its size, so a frame kept until acknowledged holds no more room
    /// than about twice its bytes.
    private func readLocal(_ channel: SessionChannel, _ local: Socket, scratch: inout FrameStorage?) {
        // Bulk frames queued and the writer not yet told: it is woken once per batch's
        // worth (a 64 KiB transfer's four or five frames), not once per frame, so that
        // it takes them in one write instead of waking for the first alone.
        var untold = 0
        defer {
            if untold > 0 { monitor.withLock { monitor.broadcast() } }
        }
        while true {
            let room: Int = monitor.withLock {
                guard endReason == nil, !channel.finQueued else { return 0 }
                if scratch == nil { scratch = payloadPool.take(capacity: SessionFrame.maxPayload) }
                return min(SessionFrame.maxPayload, configuration.channelWindow - channel.queuedAhead)
            }
            guard room > 0, let buffer = scratch else { return }
            // Storage from the pool may be shorter than a frame: filled once, kept full.
            if buffer.bytes.count < SessionFrame.maxPayload {
                buffer.bytes.append(contentsOf: repeatElement(0, count: SessionFrame.maxPayload - buffer.bytes.count))
            }
            let n: Int
            do {
                // Nil: nothing (more) there.
                guard let read = try local.readSome(into: &buffer.bytes, upTo: room) else { return }
                n = read
            } catch {
                n = 0  // a broken local end ends the channel like a closed one
            }
            let small: Bool = monitor.withLock {
                guard endReason == nil, !channel.finQueued else { return false }
                guard n > 0 else {
                    channel.queueFin(self)
                    return false
                }
                var frame: SessionFrame
                if n > SessionFrame.maxPayload / 2 {
                    frame = SessionFrame(kind: .data, channel: channel.id, payload: buffer.bytes[0..<n])
                    frame.storage = buffer
                    scratch = nil
                } else {
                    let storage = payloadPool.take(capacity: n)
                    storage.bytes.removeAll(keepingCapacity: true)
                    storage.bytes.append(contentsOf: buffer.bytes[0..<n])
                    frame = SessionFrame(kind: .data, channel: channel.id, payload: storage.bytes[...])
                    frame.storage = storage
                }
                channel.outgoing.append(frame)
                channel.outgoingBytes += n
                // A small URB goes out from this thread if it can (`writeNowOrWake`),
                // unless bulk frames the writer has not been told of are ahead of it:
                // those go first, and on the writer's thread, not this one.
                if n <= Self.inlineFrameBytes {
                    guard untold > 0 else { return true }
                    untold = 0
                    monitor.broadcast()
                    return false
                }
                untold += n
                if untold >= Self.writeBatchBytes - SessionFrame.maxPayload {
                    untold = 0
                    monitor.broadcast()
                }
                return false
            }
            if small { writeNowOrWake() }
            // A short read emptied the socket; a full one may have left more.
            if n < room { return }
        }
    }

    /// Bytes from the peer that did not fit at once → local socket, as far as it takes
    /// them now.
    private func flushIncoming(_ channel: SessionChannel, _ local: Socket) {
        while true {
            let next: ([UInt8], Int)? = monitor.withLock {
                guard endReason == nil, !channel.outputDone, channel.heldByReader == nil,
                    let first = channel.incoming.first
                else { return nil }
                return (first, channel.incomingOffset)
            }
            guard let (bytes, offset) = next else { return }
            let written: Int?
            do { written = try local.writeSome(bytes, from: offset) } catch { written = nil }
            let more: Bool = monitor.withLock {
                guard endReason == nil, !channel.outputDone else { return false }
                guard let written else {
                    channel.endOutput(self)
                    return false
                }
                channel.incomingOffset += written
                if channel.incomingOffset == bytes.count {
                    channel.incoming.removeFirst()
                    channel.incomingOffset = 0
                }
                consumed(written, by: channel)
                if channel.incoming.isEmpty {
                    if channel.finReceived { channel.endOutput(self) }
                    return false
                }
                return written > 0
            }
            if !more { return }
        }
    }

    /// The reader, unlocked: bytes from the peer straight into the channel's socket, all
    /// of `parts` in one gathered send where they fit; what does not fit now waits for
    /// the poller. `parts` is the reader's scratch: left holding what was not written.
    func write(_ parts: inout [ArraySlice<UInt8>], to channel: SessionChannel, _ local: Socket) {
        var written = 0
        var failed = false
        while !parts.isEmpty {
            do {
                var n = try local.sendNow(slices: parts)
                if n == 0 { break }
                written += n
                // Drop what went: whole parts, then the front of the next.
                var whole = 0
                while whole < parts.count, n >= parts[whole].count {
                    n -= parts[whole].count
                    whole += 1
                }
                parts.removeFirst(whole)
                if n > 0 { parts[0] = parts[0].dropFirst(n) }
            } catch {
                failed = true
                break
            }
        }
        monitor.withLock {
            channel.heldByReader = nil
            guard endReason == nil, !channel.outputDone else { return }
            if failed {
                channel.endOutput(self)
                return
            }
            consumed(written, by: channel)
            if !parts.isEmpty {
                // Kept (out of the reader's buffer), ahead of what a newer connection's
                // reader queued meanwhile: the poller has not touched that yet.
                channel.incoming.prepend(contentsOf: parts.map { Array($0) })
                channel.incomingOffset = 0
                deferredWrites += 1
            }
            if !channel.incoming.isEmpty {
                monitor.broadcast()
                wakePoller()
            } else if channel.finReceived {
                channel.endOutput(self)  // the end came while these bytes were held
            }
        }
    }

    /// `count` more of the peer's bytes reached this end: a credit goes back once
    /// `creditStep` have. Monitor held.
    func consumed(_ count: Int, by channel: SessionChannel) {
        channel.consumed += UInt64(count)
        if channel.consumed - channel.creditSent >= creditStep { monitor.broadcast() }
    }

    /// Bytes consumed that earn the peer a credit before the writer is idle: a quarter
    /// window, so the peer's sending never stalls on a full window.
    var creditStep: UInt64 { UInt64(configuration.channelWindow / 4) }
}
