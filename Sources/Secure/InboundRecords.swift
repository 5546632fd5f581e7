import ByteBuffers
import COpenSSL
import Sockets

/// The bytes received from the network and not yet taken by OpenSSL: the read side of a
/// `TLSConnection`, as a BIO over a buffer this side fills. A stream reads its socket
/// straight into the buffer (`fill(from:)`), and OpenSSL copies from it into its record
/// buffer: one copy fewer than a memory BIO (into which the bytes had to be written from
/// a read buffer first), and no system call more.
///
/// Owned by one `TLSConnection`. One thread fills it (a stream's reader, without the
/// stream's lock), and OpenSSL reads it only inside that same thread's `SSL_read`.
final class InboundRecords {
    private var buffer = ReceiveBuffer(capacity: 0)
    /// What a read of the socket asks room for: one whole record while little arrives at a
    /// time (a handshake, a pairing exchange, a stranger trickling bytes), 64 KiB from the
    /// first read that fills that (a stream). So a hundred handshakes at once hold a
    /// hundred buffers of 16 KiB, not of 96.
    private(set) var readRoom = oneRecord
    /// A TLS record's largest ciphertext and its 5-byte header (RFC 8446, section 5.2:
    /// TLSCiphertext.length is at most 2^14 + 256).
    static let oneRecord = 5 + (1 << 14) + 256
    static let streamingRoom = 64 * 1024

    var pendingByteCount: Int { buffer.count }

    /// A new BIO reading from this buffer; nil when OpenSSL cannot make one. The buffer
    /// must outlive the BIO (the BIO points at it, unretained).
    func makeBIO() -> OpaquePointer? {
        guard let method = Self.method, let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        BIO_set_init(bio, 1)
        return bio
    }

    /// Adds bytes that arrived some other way (a handshake in memory).
    func append(_ bytes: ArraySlice<UInt8>) { buffer.append(bytes) }

    /// One read of `stream` straight into the buffer; what it returned (0: closed).
    func fill(from stream: any ByteStream) throws -> Int {
        let n = try buffer.read(from: stream, room: readRoom)
        if n == readRoom { readRoom = Self.streamingRoom }
        return n
    }

    /// Lets our own record layer open records where they lie: `body` gets the waiting bytes
    /// and says how many of them it used.
    func withWaitingBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws(TLSError) -> (consumed: Int, result: Result)
    ) throws(TLSError) -> Result {
        let (start, end) = (buffer.start, buffer.end)
        let outcome = try buffer.bytes.withTLSBytes { raw throws(TLSError) in
            try body(UnsafeRawBufferPointer(rebasing: raw[start..<end]))
        }
        buffer.consume(outcome.consumed)
        return outcome.result
    }

    /// Bytes of storage held now.
    var capacity: Int { buffer.bytes.count }

    /// The BIO's read: copies what waits, up to `count` bytes; nil when nothing does.
    func take(into destination: UnsafeMutableRawPointer, count: Int) -> Int? {
        let n = min(count, buffer.count)
        guard n > 0 else { return nil }
        let start = buffer.start
        buffer.bytes.withUnsafeBytes { raw in
            destination.copyMemory(from: raw.baseAddress! + start, byteCount: n)
        }
        buffer.consume(n)
        return n
    }

    /// Made once per process, never freed: every such BIO uses it. Not changed after it
    /// is made, so threads share it safely.
    nonisolated(unsafe) private static let method: OpaquePointer? = {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "usbp2p inbound records") else {
            return nil
        }
        // Nothing waiting is "retry" (SSL_read then wants to read), never an end of stream:
        // the stream sees the socket's end itself.
        let read:
            @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutablePointer<Int>?) ->
                Int32 = { bio, destination, count, readBytes in
                    guard let bio, let destination, let readBytes, let data = BIO_get_data(bio) else { return 0 }
                    BIO_clear_flags(
                        bio, BIO_FLAGS_READ | BIO_FLAGS_WRITE | BIO_FLAGS_IO_SPECIAL | BIO_FLAGS_SHOULD_RETRY)
                    let records = Unmanaged<InboundRecords>.fromOpaque(data).takeUnretainedValue()
                    guard let n = records.take(into: destination, count: count) else {
                        BIO_set_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY)
                        return 0
                    }
                    readBytes.pointee = n
                    return 1
                }
        // OpenSSL asks a read BIO little: whether to flush (nothing to), how many bytes
        // wait. Everything else is "not supported".
        let control: @convention(c) (OpaquePointer?, Int32, Int, UnsafeMutableRawPointer?) -> Int = {
            bio, command, _, _ in
            switch command {
            case BIO_CTRL_FLUSH: return 1
            case BIO_CTRL_PENDING:
                guard let bio, let data = BIO_get_data(bio) else { return 0 }
                return Unmanaged<InboundRecords>.fromOpaque(data).takeUnretainedValue().pendingByteCount
            default: return 0
            }
        }
        guard BIO_meth_set_read_ex(method, read) == 1, BIO_meth_set_ctrl(method, control) == 1 else {
            BIO_meth_free(method)
            return nil
        }
        return method
    }()
}
