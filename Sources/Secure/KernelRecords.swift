import CPlatform
import FileSystem
import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// Kernel TLS (the `tls` module, Linux 5.1 and later for TLS 1.3; ChaCha20-Poly1305 from
/// 5.11) carrying on from our record layer on a stream over a socket: the kernel seals
/// what the writer sends and opens what the reader receives, so records never pass through
/// user space. Each direction moves over at a record boundary, by its own thread: the
/// reader once everything it read from the socket is opened, the writer once nothing it
/// sealed is left to send. Until then that direction stays with our record layer.
///
/// Keys are never changed under kernel TLS (this code never asks the kernel to): a KeyUpdate
/// from the peer ends the stream, and so does reaching what one key may seal (see `sent`),
/// after which the session reconnects with new keys.
final class KernelRecords: @unchecked Sendable {
    let socket: Socket
    /// The reader's own: whether the kernel opens what it reads.
    var receiving = false
    /// Guarded by the stream's `sending` lock: whether the kernel seals what it sends.
    var sending = false
    /// Guarded by `sending` too.
    private var sealed: SealedBlocks

    private init(socket: Socket, recordsPerKey: UInt64) {
        self.socket = socket
        sealed = SealedBlocks(recordsPerKey: recordsPerKey)
    }

    /// The "tls" upper-layer protocol on `socket`; nil when the kernel has none (no module,
    /// not Linux, not TCP), and the stream keeps our record layer.
    static func start(on socket: Socket, recordsPerKey: UInt64) -> KernelRecords? {
        guard usbp2p_ktls_start(socket.descriptor) == 0 else { return nil }
        return KernelRecords(socket: socket, recordsPerKey: recordsPerKey)
    }

    /// Counts a send of `count` bytes (`sending` held); throws once the key is used up.
    func sent(_ count: Int) throws(TLSError) { try sealed.add(count) }

    /// Hands one direction's keys over, from the record our layer would have handled next.
    func install(_ protection: RecordProtection, receiving: Bool) throws(TLSError) {
        guard var parameters = protection.kernelParameters() else { throw .setupFailed(OpenSSLErrors.drain()) }
        defer { for index in parameters.key.indices { parameters.key[index] = 0 } }
        let code = usbp2p_ktls_set_keys(
            socket.descriptor, receiving ? 1 : 0, parameters.cipher, parameters.key, Int32(parameters.key.count),
            parameters.iv, parameters.sequence)
        guard code == 0 else {
            throw .setupFailed(
                "kernel TLS refused the \(receiving ? "receive" : "send") keys: \(SystemError(call: "setsockopt", errno: code))"
            )
        }
        if receiving { self.receiving = true } else { sending = true }
    }

    /// One read of application data: the count, 0 once the peer closed. Records of other
    /// types are handled as our record layer does (tickets dropped, close_notify the end,
    /// any other alert an error); a KeyUpdate ends the stream (see above).
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            var type: UInt8 = 0
            let n = usbp2p_ktls_receive(socket.descriptor, buffer.baseAddress, UInt(buffer.count), &type)
            if n == -Int(EINTR) { continue }
            if n == -Int(EBADMSG) {
                throw TLSError.recordFailed(
                    "a record failed authentication (bad_record_mac): altered, or not from the peer")
            }
            if n < 0 { throw SystemError(call: "recvmsg", path: socket.peer, errno: Int32(-n)) }
            if n == 0 || type == RecordProtection.ContentType.applicationData.rawValue { return n }
            let content = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            switch type {
            case RecordProtection.ContentType.alert.rawValue:
                guard n == 2 else { throw TLSError.recordFailed("a malformed alert (decode_error)") }
                guard content[1] == 0 else {
                    throw TLSError.recordFailed("the peer sent alert \(content[1]) and closed")
                }
                return 0
            case RecordProtection.ContentType.handshake.rawValue:
                guard n >= 4, content[0] == ApplicationRecords.newSessionTicket else {
                    throw TLSError.recordFailed(
                        "handshake message \(content[0]) under kernel TLS, which cannot follow it")
                }
            default:
                throw TLSError.recordFailed("a record of content type \(type) (unexpected_message)")
            }
        }
    }
}

/// What the kernel has sealed under one key, counted from above in 16-byte blocks, against
/// what one key may seal: `recordsPerKey` full records and their tags. AES-GCM's limit is
/// on blocks (RFC 8446, section 5.5, states it in full-size records), so small records use
/// it up no faster than their bytes do.
struct SealedBlocks {
    private(set) var blocks: UInt64 = 0
    let limit: UInt64

    init(recordsPerKey: UInt64) {
        limit =
            recordsPerKey.multipliedReportingOverflow(by: UInt64(RecordProtection.maxPlaintext / 16 + 1)).partialValue
    }

    /// A send of `count` bytes: its blocks, a partial one, and a tag's for each record it
    /// may make (one per 2^14 bytes, and two more for a send the socket splits). Throws
    /// once the key is used up.
    mutating func add(_ count: Int) throws(TLSError) {
        guard count > 0 else { return }
        blocks += UInt64(count / 16 + 1 + count / RecordProtection.maxPlaintext + 2)
        guard blocks < limit else {
            throw .recordFailed("this connection's key has sealed all it may; a new connection gets new keys")
        }
    }
}
