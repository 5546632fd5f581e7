import Dispatch
import Log
import Sockets
import Synchronization
import USBIP

/// Writes one import's replies to its connection on a serial queue of its own, so replies
/// made on the USB thread never wait for the network, and bounds what waits there in
/// bytes: a client that stops reading while its URBs complete is cut off, never allowed to
/// grow this process (the bound holds every reply's header and data).
final class ReplyWriter: Sendable {
    /// Bytes of replies that may wait for a slow reader: several of the largest URBs
    /// (`USBIPLimits.maxTransferBufferLength`, 8 MiB) in a row, far beyond what a reading
    /// client lets pile up, small enough that a few stalled imports stay harmless.
    static let defaultLimit = 32 << 20

    private let socket: Socket
    private let queue = DispatchQueue(label: "usbip-writer")
    private let queued = Atomic<Int>(0)
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
    var queuedBytes: Int { queued.load(ordering: .relaxed) }

    /// Queues `message`; never blocks. Past the limit the message is dropped and the
    /// connection shut down (its reader then ends the import).
    func send(_ message: USBIPMessage) {
        // A cut-off connection's replies are not even encoded (each may carry megabytes,
        // and this runs on the USB thread under the import's lock).
        if overrun.load(ordering: .relaxed) { return }
        let bytes = message.encoded
        guard queued.add(bytes.count, ordering: .relaxed).newValue <= limit else {
            queued.subtract(bytes.count, ordering: .relaxed)
            if !overrun.exchange(true, ordering: .acquiringAndReleasing) {
                logger.warning("\(socket.peer): cut off: more than \(limit) bytes of replies unread")
                socket.shutdown()
            }
            return
        }
        queue.async { [self] in
            do { try socket.writeAll(bytes) } catch { socket.shutdown() }
            queued.subtract(bytes.count, ordering: .relaxed)
        }
    }

    /// Waits until everything queued has been written or has failed.
    func drain() { queue.sync {} }
}
