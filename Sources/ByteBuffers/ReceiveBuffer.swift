/// Bytes read from a stream and not yet consumed, in storage kept from read to read:
/// a read lands after what waits (`read(from:room:)`, no copy in between), and what waits
/// moves to the front only when the tail is short of the room asked for. The session's
/// frame decoder, TLS's inbound side and the USB/IP decoder all read their streams
/// through one. Pure Swift, no I/O: the reader is handed in (Sockets adds a stream's).
public struct ReceiveBuffer: Sendable {
    /// Bytes `start..<end` of `bytes` wait to be consumed.
    public private(set) var bytes: [UInt8]
    public private(set) var start = 0
    public private(set) var end = 0

    public init(capacity: Int) { bytes = [UInt8](repeating: 0, count: capacity) }

    /// Bytes waiting.
    public var count: Int { end - start }

    /// Marks `n` waiting bytes consumed (at most `count`).
    public mutating func consume(_ n: Int) { start += min(n, count) }

    /// One read straight into the storage, with at least `room` bytes free after what
    /// waits: `read` gets the storage and the offset to write at, and returns how many
    /// bytes it wrote there (0: the peer closed). What the read returned.
    public mutating func read<Failure: Error>(
        room: Int, _ read: (inout [UInt8], Int) throws(Failure) -> Int
    ) throws(Failure) -> Int {
        makeRoom(for: room)
        let n = try read(&bytes, end)
        end += max(0, min(n, bytes.count - end))
        return n
    }

    /// Adds bytes that arrived some other way.
    public mutating func append(_ more: some Collection<UInt8>) {
        makeRoom(for: more.count)
        bytes.replaceSubrange(end..<(end + more.count), with: more)
        end += more.count
    }

    /// Makes `room` bytes free after `end`: what waits moves to the front when the tail is
    /// shorter (usually less than one message or record: its reader consumed the rest),
    /// and the storage grows only when that is not enough.
    private mutating func makeRoom(for room: Int) {
        if start == end {
            start = 0
            end = 0
        } else if bytes.count - end < room && start > 0 {
            for i in 0..<(end - start) { bytes[i] = bytes[start + i] }
            end -= start
            start = 0
        }
        if bytes.count - end < room {
            bytes.append(contentsOf: repeatElement(0, count: room - (bytes.count - end)))
        }
    }
}
