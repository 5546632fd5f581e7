import COpenSSL
import Identity
import Sockets

/// One TLS connection without I/O of its own (sans-IO, over two BIOs on buffers of its
/// own): bytes from the network go in with `receive`, bytes for the network come out of
/// `takeOutbound`, so two of them can shake hands in memory and a socket driver stays
/// small.
///
/// Not thread-safe: one owner at a time (`TLSStream` serialises access).
public final class TLSConnection: @unchecked Sendable {
    let context: TLSContext
    private let ssl: OpaquePointer
    /// Network → OpenSSL (a buffer a stream reads its socket into), OpenSSL → network.
    private let inbound = InboundRecords()
    private let outbound = OutboundRecords()
    /// Set by the verify callback: the peer's EndpointId once its certificate is accepted.
    public internal(set) var peer: EndpointId?
    /// Set by a callback that refused the peer: why.
    var refusal: String?
    public private(set) var isHandshakeComplete = false
    /// The application traffic secrets, caught from OpenSSL's key log during the handshake
    /// and wiped once the record layer has its keys.
    private var clientTrafficSecret: [UInt8]?
    private var serverTrafficSecret: [UInt8]?
    /// Our own record layer, from the handshake's end on (nil: OpenSSL's). Set once, before
    /// the connection is handed on; the reader's half and the writer's touch nothing in
    /// common, so a stream's reader needs no lock shared with its writer.
    private var writer: RecordWriter?
    private var reader: RecordReader?

    /// Index of our back-pointer in OpenSSL's per-SSL extra data.
    private static let exDataIndex: Int32 = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, nil, nil, nil, nil)

    public init(context: TLSContext) throws(TLSError) {
        self.context = context
        guard let ssl = SSL_new(context.context) else { throw .setupFailed(OpenSSLErrors.drain()) }
        guard let reading = inbound.makeBIO() else {
            SSL_free(ssl)
            throw .setupFailed(OpenSSLErrors.drain())
        }
        guard let writing = outbound.makeBIO() else {
            BIO_free(reading)
            SSL_free(ssl)
            throw .setupFailed(OpenSSLErrors.drain())
        }
        SSL_set_bio(ssl, reading, writing)  // the SSL owns both BIOs now
        switch context.recordLayer {
        case .ours, .kernel:
            // OpenSSL reads only the handshake's records, each exactly: whatever follows
            // them stays in `inbound` for our own record layer.
            SSL_set_read_ahead(ssl, 0)
        case .openSSL:
            // Take what waits in one go (up to 64 KiB), not each record's header, then its body.
            SSL_set_read_ahead(ssl, 1)
            SSL_set_default_read_buffer_len(ssl, 64 * 1024)
        }
        self.ssl = ssl
        SSL_set_ex_data(ssl, Self.exDataIndex, Unmanaged.passUnretained(self).toOpaque())
        switch context.role {
        case .client:
            SSL_set_connect_state(ssl)
            let list = context.protocolList
            guard SSL_set_alpn_protos(ssl, list, UInt32(list.count)) == 0 else {
                throw .setupFailed(OpenSSLErrors.drain())
            }
        case .server:
            SSL_set_accept_state(ssl)
        }
    }

    deinit {
        SSL_free(ssl)
        Self.wipe(&clientTrafficSecret)  // a handshake that failed after OpenSSL logged them
        Self.wipe(&serverTrafficSecret)
    }

    static func from(_ ssl: OpaquePointer) -> TLSConnection? {
        guard let raw = SSL_get_ex_data(ssl, exDataIndex) else { return nil }
        return Unmanaged<TLSConnection>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Bytes that arrived from the network.
    public func receive(_ bytes: ArraySlice<UInt8>) {
        guard !bytes.isEmpty else { return }
        inbound.append(bytes)
    }

    /// Reads `stream` once, straight into what OpenSSL reads from (no copy in between);
    /// returns what the read returned (0: the peer closed).
    public func receive(from stream: any ByteStream) throws -> Int {
        try inbound.fill(from: stream)
    }

    /// Bytes to send to the network, in order; empty when there are none.
    public func takeOutbound() -> [UInt8] {
        var bytes: [UInt8] = []
        _ = outbound.take(into: &bytes, at: 0)  // a copy: the room stays for the next records
        return bytes
    }

    /// Bytes to send to the network, in order, in `buffer` from `offset` on; returns where
    /// they end. At offset 0 the buffer and the connection's own change places (no copy;
    /// each keeps the other's room); past it they are copied in, the buffer grown if need
    /// be. Either way a writer that reuses its buffer neither allocates nor clears
    /// anything per write once both have the room of its largest write.
    public func takeOutbound(into buffer: inout [UInt8], at offset: Int) -> Int {
        guard outbound.count > 0 else { return offset }
        // At the start of the buffer the records need no copy: the buffers change places.
        if offset == 0 { return outbound.swap(with: &buffer) }
        return outbound.take(into: &buffer, at: offset)
    }

    /// Moves the handshake on with what has been received. True once it is complete;
    /// false while it needs more bytes from the peer (send `takeOutbound()` first).
    public func handshake() throws(TLSError) -> Bool {
        if isHandshakeComplete { return true }
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            guard let peer else { throw .peerRefused("the peer sent no certificate") }
            if context.role == .client {
                // A server that ignores ALPN would otherwise pick nothing.
                guard let selected = applicationProtocol, context.protocols.contains(selected) else {
                    throw .noCommonProtocol(offered: context.protocols.joined(separator: ", "))
                }
            }
            _ = peer
            try takeOverRecords()
            isHandshakeComplete = true
            return true
        }
        let code = SSL_get_error(ssl, rc)
        if code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE { return false }
        let detail = OpenSSLErrors.drain()
        if let refusal { throw .peerRefused(refusal) }
        if detail.contains("no application protocol") {
            throw .noCommonProtocol(offered: context.protocols.joined(separator: ", "))
        }
        throw .handshakeFailed(detail)
    }

    /// Whether records are ours (sealed and opened here) rather than OpenSSL's: then a read
    /// never makes bytes to send, and needs no lock shared with writes.
    public var recordsAreOurs: Bool { reader != nil }

    /// Nothing received waits to be opened here: the next byte on the socket starts a
    /// record (kernel TLS may take over reading).
    var readerIsDrained: Bool { inbound.pendingByteCount == 0 && reader?.isDrained == true }

    /// Nothing sealed waits to be taken: the next record is the writer's next.
    var writerIsDrained: Bool { outbound.count == 0 }

    /// Our record layer's halves, for kernel TLS to carry on from (nil: OpenSSL's layer).
    var readingProtection: RecordProtection? { reader?.protection }
    var writingProtection: RecordProtection? { writer?.protection }

    /// Called by the key log callback: keeps the two application traffic secrets (RFC 8446,
    /// section 7.1), which OpenSSL logs as "<label> <client random> <secret>" in hex.
    func noteKeyLog(_ line: UnsafeBufferPointer<UInt8>) {
        let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: true)
        guard fields.count == 3 else { return }
        let label = String(decoding: fields[0], as: UTF8.self)
        guard label == "CLIENT_TRAFFIC_SECRET_0" || label == "SERVER_TRAFFIC_SECRET_0",
            let secret = Self.decodeHex(fields[2])
        else { return }
        if label.hasPrefix("CLIENT") { clientTrafficSecret = secret } else { serverTrafficSecret = secret }
    }

    private static func decodeHex(_ text: Slice<UnsafeBufferPointer<UInt8>>) -> [UInt8]? {
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        guard text.count % 2 == 0, !text.isEmpty else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(text.count / 2)
        var index = text.startIndex
        while index < text.endIndex {
            guard let high = nibble(text[index]), let low = nibble(text[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    /// At the handshake's end: our own record layer takes over when the context asks for it,
    /// the suite is one it knows, both secrets were caught and OpenSSL holds no record it
    /// has read and not yet processed. Otherwise OpenSSL's record layer stays.
    private func takeOverRecords() throws(TLSError) {
        // Moved out, so the record layer holds the only copies and wipes them itself.
        var secrets = (client: clientTrafficSecret, server: serverTrafficSecret)
        (clientTrafficSecret, serverTrafficSecret) = (nil, nil)
        guard context.recordLayer != .openSSL, let name = cipherName,
            let suite = RecordProtection.Suite(openSSLName: name),
            let client = secrets.client, let server = secrets.server, SSL_has_pending(ssl) == 0
        else {
            Self.wipe(&secrets.client)
            Self.wipe(&secrets.server)
            return
        }
        secrets = (nil, nil)
        let (ours, theirs) = context.role == .client ? (client, server) : (server, client)
        (writer, reader) = try ApplicationRecords.make(
            suite: suite, writeSecret: ours, readSecret: theirs, recordsPerKey: context.recordsPerKey)
    }

    private static func wipe(_ secret: inout [UInt8]?) {
        secret?.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
        secret = nil
    }

    /// Encrypts `plaintext` into records (then `takeOutbound()`).
    public func write(_ plaintext: UnsafeRawBufferPointer) throws(TLSError) {
        precondition(isHandshakeComplete, "write before the handshake")
        if let writer { return try writer.write(plaintext, into: outbound) }
        var offset = 0
        while offset < plaintext.count {
            ERR_clear_error()
            var written = 0
            let rc = SSL_write_ex(ssl, plaintext.baseAddress! + offset, plaintext.count - offset, &written)
            guard rc == 1 else { throw .recordFailed(OpenSSLErrors.drain()) }
            offset += written
        }
    }

    /// Decrypts into `buffer`: the number of bytes, 0 when the peer closed cleanly, nil
    /// when more network bytes are needed.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> Int? {
        if let reader { return try reader.read(from: inbound, into: buffer) }
        ERR_clear_error()
        var count = 0
        let rc = SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count)
        if rc == 1 { return count }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return nil
        case SSL_ERROR_ZERO_RETURN: return 0
        default: throw .recordFailed(OpenSSLErrors.drain())
        }
    }

    /// Queues a close_notify alert (then `takeOutbound()`).
    public func close() {
        if let writer {
            try? writer.closeNotify(into: outbound)
        } else if isHandshakeComplete {
            _ = SSL_shutdown(ssl)
        }
    }

    /// The protocol ALPN chose, once the handshake is complete.
    public var applicationProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The negotiated cipher suite, e.g. "TLS_AES_256_GCM_SHA384".
    public var cipherName: String? {
        guard let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) else { return nil }
        return String(cString: name)
    }

    /// Keying material both ends derive from this connection alone (RFC 8446 §7.5):
    /// binds an application proof to this TLS session, so it cannot be replayed on another.
    public func exportKeyingMaterial(label: String, context value: [UInt8], length: Int) throws(TLSError) -> [UInt8] {
        precondition(isHandshakeComplete)
        var out = [UInt8](repeating: 0, count: length)
        let rc = SSL_export_keying_material(ssl, &out, length, label, label.utf8.count, value, value.count, 1)
        guard rc == 1 else { throw .setupFailed(OpenSSLErrors.drain()) }
        return out
    }
}
