import ByteBuffers
import Dispatch
import Log
import Sockets
import Synchronization
import USBIP

/// Writes one import's replies to its connection without ever blocking the thread that
/// made them (the USB thread): a reply goes straight into the socket when nothing is
/// waiting before it and the socket has room (no hand-off to another thread: the plain
/// USB/IP round trip), and what the socket cannot take now waits for a serial queue of
/// its own, which writes it in order. What waits is bounded in bytes: a client that stops
/// reading while its URBs complete is cut off, never allowed to grow this process.
final class ReplyWriter: Sendable {
    /// Bytes of replies that may wait for a slow reader: several of the largest URBs
    /// (`USBIPLimits.maxTransferBufferLength`, 8 MiB) in a row, far beyond what a reading
    /// client lets pile up, small enough that a few stalled imports stay harmless.
    static let defaultLimit = 32 << 20

    private let socket: Socket
    private let queue = DispatchQueue(label: "usbip-writer")
    /// Bytes handed to the queue and not yet written. While any wait, a new reply queues
    /// behind them (order); the socket is written by one sender at a time, under this lock
    /// for the immediate write, by the queue otherwise.
    private let waiting = Mutex<Int>(0)
    private let overrun = Atomic<Bool>(false)
    private let logger: Logger
    let limit: Int

    init(socket: Socket, logger: Logger, limit: Int = defaultLimit) {
        self.socket = socket
        self.logger = logger
        self.limit = limit
    }

    /// Whether the connection was cut off for not reading its replies.
    var wasCutOff: Bool { overrun.load(ordering: .acquiring) }

    /// Bytes waiting now.
    var queuedBytes: Int { waiting.withLock { $0 } }

    /// Writes or queues `outbound`; never blocks. Past the limit the message is dropped
    /// and the connection shut down (its reader then ends the import).
    func send(_ outbound: OutboundMessage) {
        // A cut-off connection's replies are not even encoded (each may carry megabytes,
        // and this runs on the USB thread).
        if overrun.load(ordering: .relaxed) { return }
        // A reply's data goes out where it lies (in the transfer's buffer, or in the
        // message), after its header, in one gathered send; only what the socket cannot
        // take now is joined into one array for the queue.
        let parts = outbound.data == nil ? outbound.message.encodedParts : WireParts(outbound.message.encoded[...])
        let tail = outbound.data
        enum Outcome { case done, broken, overLimit }
        let outcome: Outcome = waiting.withLock { waiting in
            var written = 0
            if waiting == 0 {
                do { written = try socket.sendNow(parts: parts, then: tail) } catch { return .broken }
            }
            let total = parts.reduce(tail?.count ?? 0) { $0 + $1.count }
            if written == total { return .done }
            let rest = Self.joined(parts, then: tail, droppingFirst: written)
            guard waiting + rest.count <= limit else { return .overLimit }
            waiting += rest.count
            queue.async { [self] in
                do { try socket.writeAll(rest) } catch { socket.shutdown() }
                self.waiting.withLock { $0 -= rest.count }
            }
            return .done
        }
        switch outcome {
        case .done: break
        case .broken: socket.shutdown()
        case .overLimit:
            if !overrun.exchange(true, ordering: .acquiringAndReleasing) {
                logger.warning("\(socket.peer): cut off: more than \(limit) bytes of replies unread")
                socket.shutdown()
            }
        }
    }

    /// What is left of `parts` and `tail` after the first `sent` bytes, in one array.
    static func joined(
        _ parts: some Collection<ArraySlice<UInt8>>, then tail: FixedBytes.Slice? = nil, droppingFirst sent: Int
    )
        -> [UInt8]
    {
        var rest: [UInt8] = []
        rest.reserveCapacity(max(0, parts.reduce(tail?.count ?? 0) { $0 + $1.count } - sent))
        var skip = sent
        for part in parts {
            let skipped = min(skip, part.count)
            rest += part.dropFirst(skipped)
            skip -= skipped
        }
        if let tail {
            let skipped = min(skip, tail.count)
            tail.dropFirst(skipped).withUnsafeBytes { rest.append(contentsOf: $0) }
        }
        return rest
    }

    /// Waits until everything queued has been written or has failed.
    func drain() { queue.sync {} }
}
