/// Bytes read from a stream and not yet consumed, in storage kept from read to read:
/// a read lands after what waits (`read(room:_:)`, no copy in between), and what waits
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

    /// Adds bytes that arrived some other way (contiguous ones copied as one block).
    public mutating func append(_ more: some Collection<UInt8>) {
        let count = more.count
        makeRoom(for: count)
        let at = end
        let copied: Void? = more.withContiguousStorageIfAvailable { source in
            bytes.withUnsafeMutableBytes { storage in
                UnsafeMutableRawBufferPointer(rebasing: storage[at..<(at + count)])
                    .copyMemory(from: UnsafeRawBufferPointer(source))
            }
        }
        if copied == nil { bytes.replaceSubrange(at..<(at + count), with: more) }
        end += count
    }

    /// Makes `room` bytes free after `end`: what waits moves to the front when the tail is
    /// shorter (usually less than one message or record: its reader consumed the rest),
    /// and the storage grows only when that is not enough. Moves and growth copy blocks,
    /// never byte by byte (a debug build's byte loop over 64 KiB cost milliseconds a
    /// connection, and slowed the relay soak threefold).
    private mutating func makeRoom(for room: Int) {
        if start == end {
            start = 0
            end = 0
        } else if bytes.count - end < room && start > 0 {
            let (from, waiting) = (start, end - start)
            bytes.withUnsafeMutableBytes { storage in
                // Overlapping regions are allowed (a memmove).
                storage.baseAddress!.copyMemory(from: storage.baseAddress! + from, byteCount: waiting)
            }
            end = waiting
            start = 0
        }
        if bytes.count - end < room {
            // At least doubled: a message arriving in many small appends (a stream cut
            // into small frames) would otherwise cost a new allocation and a copy of all
            // that waits for each of them.
            var grown = [UInt8](repeating: 0, count: max(end + room, 2 * bytes.count))
            let (from, to) = (start, end)
            grown.withUnsafeMutableBytes { target in
                bytes.withUnsafeBytes { source in
                    UnsafeMutableRawBufferPointer(rebasing: target[from..<to])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[from..<to]))
                }
            }
            bytes = grown
        }
    }
}
