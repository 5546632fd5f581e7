import COpenSSL

/// TLS 1.3's record protection for one direction of one connection (RFC 8446, section 5.2
/// to 5.3): one AEAD key, its IV, and the record sequence number that makes each record's
/// nonce. `ApplicationRecords` uses one for sealing and one for opening once the handshake
/// is done, so that records are encrypted straight from the caller's bytes and decrypted
/// straight into the caller's buffer, not copied through OpenSSL's record buffers.
///
/// Owned by one thread at a time (a stream's reader, or its writer under its lock).
final class RecordProtection {
    /// The TLS 1.3 cipher suites OpenSSL offers by default (RFC 8446, appendix B.4).
    enum Suite: Sendable, Equatable {
        case aes128GCM, aes256GCM, chaCha20Poly1305

        /// From OpenSSL's name of the negotiated suite; nil for any other (the connection
        /// then keeps OpenSSL's record layer).
        init?(openSSLName name: String) {
            switch name {
            case "TLS_AES_128_GCM_SHA256": self = .aes128GCM
            case "TLS_AES_256_GCM_SHA384": self = .aes256GCM
            case "TLS_CHACHA20_POLY1305_SHA256": self = .chaCha20Poly1305
            default: return nil
            }
        }

        var keyLength: Int { self == .aes128GCM ? 16 : 32 }
        /// The suite's hash, which the key schedule's HKDF uses.
        var digest: OpaquePointer? { self == .aes256GCM ? EVP_sha384() : EVP_sha256() }
        var cipher: OpaquePointer? {
            switch self {
            case .aes128GCM: EVP_aes_128_gcm()
            case .aes256GCM: EVP_aes_256_gcm()
            case .chaCha20Poly1305: EVP_chacha20_poly1305()
            }
        }
    }

    /// TLS 1.3's content types (RFC 8446, section 5.1).
    enum ContentType: UInt8 {
        case alert = 21
        case handshake = 22
        case applicationData = 23
    }

    static let headerLength = 5
    static let tagLength = 16
    static let ivLength = 12
    /// The most plaintext one record carries (2^14 bytes, RFC 8446, section 5.1).
    static let maxPlaintext = 1 << 14
    /// The longest ciphertext a peer may send (2^14 + 256 bytes, section 5.2).
    static let maxCiphertext = (1 << 14) + 256

    /// What a record of `plaintext` bytes takes on the wire: header, plaintext, its content
    /// type, tag.
    static func sealedLength(_ plaintext: Int) -> Int { headerLength + plaintext + 1 + tagLength }

    let suite: Suite
    let sealing: Bool
    private var secret: [UInt8]
    private var iv: [UInt8]
    /// The current record's nonce, made in place (`startRecord`).
    private var nonce = [UInt8](repeating: 0, count: ivLength)
    /// The next record's number under the current key (RFC 8446, section 5.3).
    private(set) var sequence: UInt64 = 0
    private let context: OpaquePointer

    /// - Parameters:
    ///   - secret: a traffic secret of the key schedule (RFC 8446, section 7.1), from which
    ///     the key and IV are derived (section 7.3).
    ///   - sealing: true to encrypt, false to decrypt.
    init(suite: Suite, secret: [UInt8], sealing: Bool) throws(TLSError) {
        guard let context = EVP_CIPHER_CTX_new() else { throw .setupFailed(OpenSSLErrors.drain()) }
        self.context = context
        self.suite = suite
        self.sealing = sealing
        self.secret = secret
        iv = []
        try installKey()
    }

    deinit {
        EVP_CIPHER_CTX_free(context)  // cleanses the key schedule it holds
        secret.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
        iv.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
        nonce.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
    }

    /// Moves to the next traffic secret (a KeyUpdate, RFC 8446, section 7.2): new key, new
    /// IV, sequence numbers from 0 again.
    func updateKey() throws(TLSError) {
        guard let digest = suite.digest,
            let next = Self.expandLabel(
                secret, label: "traffic upd", length: Int(EVP_MD_get_size(digest)), digest: digest)
        else { throw .setupFailed(OpenSSLErrors.drain()) }
        secret.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
        secret = next
        try installKey()
    }

    /// What kernel TLS needs to carry on from here (`KernelRecords`): the suite's number in
    /// CPlatform's shim, the key and IV derived again, and the next record's number.
    func kernelParameters() -> (cipher: Int32, key: [UInt8], iv: [UInt8], sequence: UInt64)? {
        guard let digest = suite.digest,
            let key = Self.expandLabel(secret, label: "key", length: suite.keyLength, digest: digest)
        else { return nil }
        let cipher: Int32 =
            switch suite {
            case .aes128GCM: 0
            case .aes256GCM: 1
            case .chaCha20Poly1305: 2
            }
        return (cipher, key, iv, sequence)
    }

    private func installKey() throws(TLSError) {
        guard let digest = suite.digest, let cipher = suite.cipher,
            var key = Self.expandLabel(secret, label: "key", length: suite.keyLength, digest: digest),
            let iv = Self.expandLabel(secret, label: "iv", length: Self.ivLength, digest: digest)
        else { throw .setupFailed(OpenSSLErrors.drain()) }
        defer { key.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) } }
        self.iv = iv
        sequence = 0
        guard EVP_CipherInit_ex(context, cipher, nil, key, nil, sealing ? 1 : 0) == 1 else {
            throw .setupFailed(OpenSSLErrors.drain())
        }
    }

    /// Seals `plaintext` (at most `maxPlaintext` bytes) as one record of `type` at
    /// `destination`, which has room for `sealedLength(plaintext.count)` bytes and does not
    /// overlap it; returns the record's length.
    func seal(
        _ plaintext: UnsafeRawBufferPointer, type: ContentType, into destination: UnsafeMutableRawPointer
    ) throws(TLSError) -> Int {
        try seal(plaintext, typeByte: type.rawValue, into: destination)
    }

    /// `seal` with any last byte (tests make padding and typeless records with it).
    func seal(
        _ plaintext: UnsafeRawBufferPointer, typeByte: UInt8, into destination: UnsafeMutableRawPointer
    ) throws(TLSError) -> Int {
        precondition(sealing && plaintext.count <= Self.maxPlaintext)  // our own callers' sizes
        guard sequence < UInt64.max else { throw .recordFailed("the record sequence number is exhausted") }
        let length = Self.sealedLength(plaintext.count)
        let bodyLength = length - Self.headerLength
        // TLSCiphertext's header: application_data, legacy version 0x0303, the length; it is
        // also the AEAD's additional data (section 5.2).
        let header = destination.assumingMemoryBound(to: UInt8.self)
        header[0] = ContentType.applicationData.rawValue
        header[1] = 3
        header[2] = 3
        header[3] = UInt8(truncatingIfNeeded: bodyLength >> 8)
        header[4] = UInt8(truncatingIfNeeded: bodyLength)
        var typeByte = typeByte
        var produced: Int32 = 0
        let body = header + Self.headerLength
        let ok =
            startRecord()
            && EVP_CipherUpdate(context, nil, &produced, header, Int32(Self.headerLength)) == 1
            && (plaintext.isEmpty
                || EVP_CipherUpdate(
                    context, body, &produced, plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    Int32(plaintext.count)) == 1)
            && EVP_CipherUpdate(context, body + plaintext.count, &produced, &typeByte, 1) == 1
            && EVP_CipherFinal_ex(context, body + plaintext.count + 1, &produced) == 1
            && EVP_CIPHER_CTX_ctrl(
                context, EVP_CTRL_AEAD_GET_TAG, Int32(Self.tagLength), body + plaintext.count + 1) == 1
        guard ok else { throw .recordFailed("sealing a record failed: \(OpenSSLErrors.drain())") }
        sequence += 1
        return length
    }

    /// Opens one record, `record` (its header and body, whole), into `destination`, which
    /// has room for the body less the tag and does not overlap it. Returns the inner
    /// content type and how many plaintext bytes precede it (padding removed).
    func open(
        _ record: UnsafeRawBufferPointer, into destination: UnsafeMutableRawPointer
    ) throws(TLSError) -> (type: UInt8, length: Int) {
        let bodyLength = record.count - Self.headerLength
        // Callers frame records with `recordLength`, which checked these.
        precondition(!sealing && bodyLength > Self.tagLength && bodyLength <= Self.maxCiphertext)
        guard sequence < UInt64.max else { throw .recordFailed("the record sequence number is exhausted") }
        let bytes = record.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let cipherLength = bodyLength - Self.tagLength
        // OpenSSL copies the tag it is given (it only reads it).
        let tag = UnsafeMutableRawPointer(mutating: bytes + record.count - Self.tagLength)
        let output = destination.assumingMemoryBound(to: UInt8.self)
        var produced: Int32 = 0
        let decrypted =
            startRecord()
            && EVP_CipherUpdate(context, nil, &produced, bytes, Int32(Self.headerLength)) == 1
            && EVP_CipherUpdate(context, output, &produced, bytes + Self.headerLength, Int32(cipherLength)) == 1
            && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, Int32(Self.tagLength), tag) == 1
        guard decrypted else { throw .recordFailed("opening a record failed: \(OpenSSLErrors.drain())") }
        guard EVP_CipherFinal_ex(context, output + cipherLength, &produced) == 1 else {
            ERR_clear_error()
            throw .recordFailed("a record failed authentication (bad_record_mac): altered, or not from the peer")
        }
        sequence += 1
        // TLSInnerPlaintext: content, the type, then zeros (section 5.4).
        var end = cipherLength
        while end > 0 && output[end - 1] == 0 { end -= 1 }
        guard end > 0 else { throw .recordFailed("a record without a content type (unexpected_message)") }
        guard end - 1 <= Self.maxPlaintext else {
            throw .recordFailed("a record longer than 2^14 bytes (record_overflow)")
        }
        return (output[end - 1], end - 1)
    }

    /// The length of the record at the start of `bytes` (header included) when its header
    /// is there; nil when fewer than 5 bytes wait. Throws for a header no TLS 1.3 peer sends
    /// after the handshake.
    static func recordLength(at bytes: UnsafeRawBufferPointer) throws(TLSError) -> Int? {
        guard bytes.count >= headerLength else { return nil }
        guard bytes[0] == ContentType.applicationData.rawValue else {
            throw .recordFailed("an unprotected record of type \(bytes[0]) after the handshake (unexpected_message)")
        }
        guard bytes[1] == 3 && bytes[2] == 3 else {
            throw .recordFailed("a record with version \(bytes[1]).\(bytes[2]), not 3.3 (protocol_version)")
        }
        let bodyLength = Int(bytes[3]) << 8 | Int(bytes[4])
        guard bodyLength <= maxCiphertext else {
            throw .recordFailed("a record of \(bodyLength) bytes, more than 2^14 + 256 (record_overflow)")
        }
        guard bodyLength > tagLength else {
            throw .recordFailed("a record of \(bodyLength) bytes, too short to carry a tag (decode_error)")
        }
        return headerLength + bodyLength
    }

    /// This record's nonce: the IV with the sequence number XORed into its last 8 bytes
    /// (section 5.3), given to the AEAD with no key (it stays).
    private func startRecord() -> Bool {
        // Into a buffer kept for it (`var nonce = iv` would copy the array every record).
        for index in 0..<Self.ivLength { nonce[index] = iv[index] }
        for index in 0..<8 {
            nonce[Self.ivLength - 1 - index] ^= UInt8(truncatingIfNeeded: sequence >> (8 * UInt64(index)))
        }
        return EVP_CipherInit_ex(context, nil, nil, nil, nonce, -1) == 1
    }

    /// HKDF-Expand-Label (RFC 8446, section 7.1) with an empty context, for outputs no longer
    /// than the hash: HKDF-Expand's first block (RFC 5869, section 2.3) is all they need,
    /// HMAC(secret, HkdfLabel || 0x01).
    static func expandLabel(_ secret: [UInt8], label: String, length: Int, digest: OpaquePointer) -> [UInt8]? {
        let fullLabel = Array("tls13 \(label)".utf8)
        guard length <= Int(EVP_MD_get_size(digest)), fullLabel.count <= 255 else { return nil }
        var info: [UInt8] = [UInt8(length >> 8), UInt8(length & 0xff), UInt8(fullLabel.count)]
        info += fullLabel
        info += [0, 1]  // the empty context's length, then HKDF-Expand's block counter
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var outputLength: UInt32 = 0
        guard HMAC(digest, secret, Int32(secret.count), info, info.count, &output, &outputLength) != nil,
            Int(outputLength) >= length
        else { return nil }
        defer { output.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) } }
        return Array(output.prefix(length))
    }
}
