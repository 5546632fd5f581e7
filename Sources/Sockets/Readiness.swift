import ByteBuffers
import CPlatform
import FileSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A way to wake a thread waiting in `Readiness.wait` from another thread: an eventfd
/// the waiter includes in what it waits for. Signals before the wait are not lost (the
/// counter stays set until `drain`).
public final class Wakeup: @unchecked Sendable {
    public let descriptor: Int32

    public init() throws(SystemError) {
        descriptor = try systemCall("eventfd") { usbp2p_eventfd() }
    }

    /// Makes the next (or current) wait return. Never blocks: a counter that is already
    /// set stays set.
    public func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Glibc.write(descriptor, $0.baseAddress, 8) }
    }

    /// Clears the signal (called by the waiter once woken).
    public func drain() {
        var count: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &count) { Glibc.read(descriptor, $0.baseAddress, 8) }
    }

    deinit { Glibc.close(descriptor) }
}

/// Waits until one of several descriptors can be read or written (poll(2)). Owned by
/// the one thread that waits; its buffer is reused, so a loop allocates nothing for the
/// wait itself once it has seen its largest set.
public struct Readiness {
    private var buffer: [pollfd] = []

    public init() {}

    public struct Interest: Sendable {
        public var descriptor: Int32
        public var read: Bool
        public var write: Bool

        public init(descriptor: Int32, read: Bool, write: Bool) {
            self.descriptor = descriptor
            self.read = read
            self.write = write
        }
    }

    public struct Events: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: 1)
        public static let writable = Events(rawValue: 2)
        /// The other end hung up or the descriptor failed: the next read or write says how.
        public static let broken = Events(rawValue: 4)
    }

    /// Waits until at least one interest is ready (or `seconds` pass; nil waits for
    /// ever); `events(at:)` then says what each one, in the order given, is ready for. A
    /// signal handler's interruption neither ends the wait nor starts its time again.
    public mutating func wait(_ interests: [Interest], seconds: Double?) throws(SystemError) {
        buffer.removeAll(keepingCapacity: true)
        for interest in interests {
            var events: Int16 = 0
            if interest.read { events |= Int16(POLLIN) }
            if interest.write { events |= Int16(POLLOUT) }
            buffer.append(pollfd(fd: interest.descriptor, events: events, revents: 0))
        }
        let deadline = seconds.map { ListenerWatch.monotonic() + max(0, min($0, 3600)) }
        // systemCall calls poll again after EINTR: each time with what is left.
        _ = try systemCall("poll") {
            let timeout = deadline.map { Int32(max(0, ($0 - ListenerWatch.monotonic()) * 1000).rounded(.up)) } ?? -1
            return buffer.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeout) }
        }
    }

    /// What the interest at `index` of the last wait is ready for (none for an index
    /// beyond it).
    public func events(at index: Int) -> Events {
        guard buffer.indices.contains(index) else { return [] }
        let revents = buffer[index].revents
        var events: Events = []
        if revents & Int16(POLLIN) != 0 { events.insert(.readable) }
        if revents & Int16(POLLOUT) != 0 { events.insert(.writable) }
        if revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 { events.insert(.broken) }
        return events
    }
}

extension Socket {
    /// Reads and writes return at once from now on (`readSome`, `writeSome`).
    public func setNonBlocking() throws(SystemError) {
        let flags = try systemCall("fcntl", path: peer) { fcntl(descriptor, F_GETFL) }
        _ = try systemCall("fcntl", path: peer) { fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) }
    }

    /// Reads what is there into the start of `buffer`, up to `count` bytes (and at most
    /// `buffer.count`): nil when nothing is (a non-blocking socket) and when there is no
    /// room, 0 when the peer closed. Whatever `buffer` held after what was read stays.
    public func readSome(into buffer: inout [UInt8], upTo count: Int = .max) throws(SystemError) -> Int? {
        let room = min(count, buffer.count)
        guard room > 0 else { return nil }
        do {
            return try systemCall("read", path: peer) {
                buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, room) }
            }
        } catch  where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
            return nil
        }
    }

    /// Writes what fits now of `bytes[offset...]` and says how much that was (0 when
    /// nothing fits: the socket's buffer is full). Never blocks, whether the socket is
    /// non-blocking or not.
    public func writeSome(_ bytes: [UInt8], from offset: Int) throws(SystemError) -> Int {
        guard offset < bytes.count else { return 0 }
        return try sendNow(bytes[offset...])
    }

    /// Writes what fits now of `bytes`, never blocking; how much that was.
    public func sendNow(_ bytes: ArraySlice<UInt8>) throws(SystemError) -> Int {
        guard !bytes.isEmpty else { return 0 }
        do {
            return try systemCall("write", path: peer) {
                bytes.withUnsafeBytes {
                    send(descriptor, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                }
            }
        } catch  where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
            return 0
        }
    }

    /// Writes what fits now of `parts` and then `tail`, one after another, in one gathered
    /// send (a reply's header, and its data where the device put it: no copy to join
    /// them); how many bytes that was, across the parts. Never blocks.
    public func sendNow<Parts: RandomAccessCollection<ArraySlice<UInt8>>>(
        parts: Parts, then tail: FixedBytes.Slice? = nil
    ) throws(SystemError) -> Int where Parts.Index == Int {
        if parts.count == 1, tail == nil { return try sendNow(parts[0]) }
        return try sendGathered(parts, then: tail)
    }

    /// `sendNow(parts:)` for an array of slices (the session's reader): the same send,
    /// specialized here for the array, since a generic collection's subscript, called
    /// from another module, cost an allocation per part (its coroutine's frame), and so
    /// one per URB on the encrypted path.
    public func sendNow(slices parts: [ArraySlice<UInt8>]) throws(SystemError) -> Int {
        if parts.count == 1 { return try sendNow(parts[0]) }
        return try sendGathered(parts, then: nil)
    }

    private func sendGathered<Parts: RandomAccessCollection<ArraySlice<UInt8>>>(
        _ parts: Parts, then tail: FixedBytes.Slice?
    ) throws(SystemError) -> Int where Parts.Index == Int {
        do {
            return try systemCall("sendmsg", path: peer) {
                // The vectors on the stack: no allocation per reply.
                withUnsafeTemporaryAllocation(of: iovec.self, capacity: parts.count + 1) { vectors in
                    Self.gathering(parts, then: tail, from: 0, into: vectors) { count in
                        var message = msghdr()
                        message.msg_iov = vectors.baseAddress
                        message.msg_iovlen = count
                        return sendmsg(descriptor, &message, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                    }
                }
            }
        } catch  where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
            return 0
        }
    }

    /// Points `vectors[index...]` at `parts[index...]` and `tail`, each valid only inside
    /// `body`, which gets how many vectors there are.
    private static func gathering<Parts: RandomAccessCollection<ArraySlice<UInt8>>>(
        _ parts: Parts, then tail: FixedBytes.Slice?, from index: Int,
        into vectors: UnsafeMutableBufferPointer<iovec>, _ body: (Int) -> Int
    ) -> Int where Parts.Index == Int {
        func point(at index: Int, to bytes: UnsafeRawBufferPointer) {
            vectors.initializeElement(
                at: index,
                to: iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count))
        }
        guard index < parts.count else {
            guard let tail else { return body(index) }
            return tail.withUnsafeBytes { bytes in
                point(at: index, to: bytes)
                return body(index + 1)
            }
        }
        return parts[index].withUnsafeBytes { bytes in
            point(at: index, to: bytes)
            return gathering(parts, then: tail, from: index + 1, into: vectors, body)
        }
    }
}
