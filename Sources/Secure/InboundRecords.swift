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
    /// Bytes `start..<end` wait for OpenSSL.
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0

    /// Room for a read of 64 KiB after what waits (less than one record, 16 KiB and a
    /// header, once OpenSSL has taken what it could).
    init() { buffer = [UInt8](repeating: 0, count: 96 * 1024) }

    var pendingByteCount: Int { end - start }

    /// A new BIO reading from this buffer; nil when OpenSSL cannot make one. The buffer
    /// must outlive the BIO (the BIO points at it, unretained).
    func makeBIO() -> OpaquePointer? {
        guard let method = Self.method, let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        BIO_set_init(bio, 1)
        return bio
    }

    /// Adds bytes that arrived some other way (a handshake in memory).
    func append(_ bytes: ArraySlice<UInt8>) {
        makeRoom(for: bytes.count)
        buffer.replaceSubrange(end..<(end + bytes.count), with: bytes)
        end += bytes.count
    }

    /// One read of `stream` straight into the buffer; what it returned (0: closed).
    func fill(from stream: any ByteStream) throws -> Int {
        makeRoom(for: 64 * 1024)
        let n = try stream.read(into: &buffer, from: end)
        end += n
        return n
    }

    private func makeRoom(for count: Int) {
        if start == end {
            start = 0
            end = 0
        } else if buffer.count - end < count {
            // Usually nothing is left by then: OpenSSL asks for more only once it has
            // taken all there was. (A handshake fed in pieces may leave some.)
            for i in 0..<(end - start) { buffer[i] = buffer[start + i] }
            end -= start
            start = 0
        }
        if buffer.count - end < count {
            buffer.append(contentsOf: repeatElement(0, count: count - (buffer.count - end)))
        }
    }

    /// The BIO's read: copies what waits, up to `count` bytes; nil when nothing does.
    func take(into destination: UnsafeMutableRawPointer, count: Int) -> Int? {
        let n = min(count, end - start)
        guard n > 0 else { return nil }
        buffer.withUnsafeBytes { raw in
            destination.copyMemory(from: raw.baseAddress! + start, byteCount: n)
        }
        start += n
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
