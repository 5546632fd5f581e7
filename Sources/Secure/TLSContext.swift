import COpenSSL
import Identity

// Mutual TLS 1.3 where a certificate is only a carrier for an Ed25519 key.
//
// Goals, in order:
//  1. The client talks only to the EndpointId it pinned; the server admits only
//     EndpointIds its policy accepts. Both are decided from the key in the peer's
//     certificate, which TLS 1.3's CertificateVerify proves the peer holds (RFC 8446 §4.4.3).
//  2. No certificate authority, names or dates: the certificate is self-signed and its
//     validity period is ignored (a Pi has no real-time clock until NTP answers).
//  3. TLS 1.3 only (RFC 8446), ALPN (RFC 7301) names what runs inside, no session
//     tickets (nothing to resume at the TLS layer; sessions resume above it).

/// Who we are and whom we accept, for one role. Shared by every connection of that role.
public final class TLSContext: @unchecked Sendable {
    public enum Role: Sendable { case client, server }
    /// Who seals and opens records once the handshake is done: the kernel's (`KernelRecords`,
    /// the default) on a stream over a socket where Linux has the `tls` module, and our own
    /// record layer elsewhere (`ApplicationRecords`: no copies through OpenSSL's buffers,
    /// reader and writer apart); or ours only; or OpenSSL's, kept to measure against and
    /// to prove the records interoperate.
    public enum RecordLayer: Sendable { case ours, openSSL, kernel }

    public let role: Role
    public let identity: EndpointId
    /// Client: protocols offered, in order of preference. Server: protocols accepted.
    public let protocols: [String]
    /// Whether a peer is acceptable on the protocol ALPN chose (nil if none); a non-nil
    /// result is the reason it is not.
    let admit: @Sendable (EndpointId, String?) -> String?
    let context: OpaquePointer
    public let recordLayer: RecordLayer
    /// Records our writer seals under one key before a KeyUpdate (lowered by tests).
    let recordsPerKey: UInt64
    /// RFC 8446, section 5.5, allows AES-GCM about 2^24.5 full-size records per key; 2^24
    /// stays under it (about 275 GB at 16 KiB a record).
    public static let defaultRecordsPerKey: UInt64 = 1 << 24

    /// - Parameters:
    ///   - admit: decides on the peer's EndpointId during the handshake; return nil to
    ///     accept or a reason to refuse (the handshake then fails with an alert).
    ///   - preferChaCha20: put ChaCha20-Poly1305 first (by default on CPUs without AES
    ///     instructions).
    public convenience init(
        role: Role, identity: EndpointIdentity, protocols: [String], preferChaCha20: Bool = CPUFeatures.prefersChaCha20,
        recordLayer: RecordLayer = .kernel, admit: @escaping @Sendable (EndpointId) -> String?
    ) throws(TLSError) {
        try self.init(
            role: role, identity: identity, protocols: protocols, preferChaCha20: preferChaCha20,
            recordLayer: recordLayer, admitting: { peer, _ in admit(peer) })
    }

    /// A context whose decision on a peer depends on the protocol too: a server that
    /// pairs strangers on `usbp2p-pair/1` and serves only its allowlist on `usbp2p/1`.
    /// (In TLS 1.3 the server has chosen the protocol before the client's certificate.)
    public init(
        role: Role, identity: EndpointIdentity, protocols: [String], preferChaCha20: Bool = CPUFeatures.prefersChaCha20,
        recordLayer: RecordLayer = .kernel, recordsPerKey: UInt64 = TLSContext.defaultRecordsPerKey,
        admitting admit: @escaping @Sendable (EndpointId, String?) -> String?
    ) throws(TLSError) {
        precondition(!protocols.isEmpty && protocols.allSatisfy { !$0.isEmpty && $0.utf8.count < 256 })
        self.role = role
        self.identity = identity.endpointId
        self.protocols = protocols
        self.admit = admit
        self.recordLayer = recordLayer
        self.recordsPerKey = max(1, recordsPerKey)
        guard let context = SSL_CTX_new(role == .client ? TLS_client_method() : TLS_server_method()) else {
            throw .setupFailed(OpenSSLErrors.drain())
        }
        self.context = context
        guard usbp2p_ssl_ctx_tls13_only(context) == 1 else { throw .setupFailed(OpenSSLErrors.drain()) }
        SSL_CTX_set_num_tickets(context, 0)
        if preferChaCha20 {
            // Without AES instructions (a Raspberry Pi 4's Cortex-A72), ChaCha20-Poly1305 is
            // several times faster than AES-GCM; the server's order decides.
            guard SSL_CTX_set_ciphersuites(context, Self.chachaFirst) == 1 else {
                throw .setupFailed(OpenSSLErrors.drain())
            }
            usbp2p_ssl_ctx_server_chooses_cipher(context)
        }
        try Self.install(identity, in: context)
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        SSL_CTX_set_cert_verify_callback(context, verifyPeerCertificate, nil)
        if role == .server {
            SSL_CTX_set_alpn_select_cb(context, selectProtocol, nil)
        }
        if recordLayer != .openSSL {
            // OpenSSL 3.0 gives the traffic secrets only to a key log; they never leave
            // the connection (`TLSConnection.noteKeyLog`).
            SSL_CTX_set_keylog_callback(context, keepTrafficSecrets)
        }
    }

    /// A client context pinned to one server.
    public convenience init(clientFor pinned: EndpointId, identity: EndpointIdentity, protocols: [String])
        throws(TLSError)
    {
        try self.init(role: .client, identity: identity, protocols: protocols) { peer in
            peer == pinned ? nil : "the server is \(peer), not the pinned \(pinned)"
        }
    }

    deinit { SSL_CTX_free(context) }

    static let chachaFirst = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"

    /// A self-signed certificate on the identity's key, and the key, for the handshake.
    private static func install(_ identity: EndpointIdentity, in context: OpaquePointer) throws(TLSError) {
        let seed = identity.privateSeed
        guard let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, seed, seed.count) else {
            throw .setupFailed(OpenSSLErrors.drain())
        }
        defer { EVP_PKEY_free(key) }
        guard let certificate = X509_new() else { throw .setupFailed(OpenSSLErrors.drain()) }
        defer { X509_free(certificate) }
        let name = X509_get_subject_name(certificate)
        let commonName = identity.endpointId.description
        let ok =
            X509_set_version(certificate, 2) == 1
            && ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1) == 1
            && X509_gmtime_adj(X509_getm_notBefore(certificate), 0) != nil
            && ASN1_TIME_set_string(X509_getm_notAfter(certificate), "99991231235959Z") == 1
            && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, commonName, -1, -1, 0) == 1
            && X509_set_issuer_name(certificate, name) == 1
            && X509_set_pubkey(certificate, key) == 1
            && X509_sign(certificate, key, nil) > 0  // Ed25519 signs without a separate digest
            && SSL_CTX_use_certificate(context, certificate) == 1
            && SSL_CTX_use_PrivateKey(context, key) == 1
            && SSL_CTX_check_private_key(context) == 1
        guard ok else { throw .setupFailed(OpenSSLErrors.drain()) }
    }

    /// The wire form of ALPN: each name prefixed by its length.
    var protocolList: [UInt8] {
        protocols.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
    }
}

/// Replaces OpenSSL's chain verification: the only question is whose key it is.
private func verifyPeerCertificate(_ store: OpaquePointer?, _: UnsafeMutableRawPointer?) -> Int32 {
    guard let store, let ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()),
        let connection = TLSConnection.from(OpaquePointer(ssl))
    else { return 0 }
    guard let certificate = X509_STORE_CTX_get0_cert(store), let key = X509_get0_pubkey(certificate),
        EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519
    else {
        connection.refusal = "the peer's certificate does not carry an Ed25519 key"
        X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION)
        return 0
    }
    var raw = [UInt8](repeating: 0, count: 32)
    var length = raw.count
    guard EVP_PKEY_get_raw_public_key(key, &raw, &length) == 1, length == 32 else {
        connection.refusal = "the peer's key cannot be read"
        return 0
    }
    let peer = EndpointId(publicKey: raw)
    if let reason = connection.context.admit(peer, connection.applicationProtocol) {
        connection.refusal = reason
        X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION)
        return 0
    }
    connection.peer = peer
    return 1
}

/// The key log callback: hands OpenSSL's line to its connection, which keeps the two
/// application traffic secrets.
private func keepTrafficSecrets(_ ssl: OpaquePointer?, _ line: UnsafePointer<CChar>?) {
    guard let ssl, let line, let connection = TLSConnection.from(ssl) else { return }
    line.withMemoryRebound(to: UInt8.self, capacity: 1) { bytes in
        connection.noteKeyLog(UnsafeBufferPointer(start: bytes, count: strlen(line)))
    }
}

/// Server side of ALPN: the first of the client's protocols that we accept, or a fatal
/// no_application_protocol alert.
private func selectProtocol(
    _ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
    _ outLength: UnsafeMutablePointer<UInt8>?, _ offered: UnsafePointer<UInt8>?, _ offeredLength: UInt32,
    _: UnsafeMutableRawPointer?
) -> Int32 {
    guard let ssl, let connection = TLSConnection.from(ssl), let offered else { return SSL_TLSEXT_ERR_ALERT_FATAL }
    let list = Array(UnsafeBufferPointer(start: offered, count: Int(offeredLength)))
    var index = 0
    var names: [String] = []
    while index < list.count {
        let length = Int(list[index])
        guard length > 0, index + 1 + length <= list.count else { break }
        let name = String(decoding: list[(index + 1)..<(index + 1 + length)], as: UTF8.self)
        names.append(name)
        if connection.context.protocols.contains(name) {
            out?.pointee = offered + index + 1
            outLength?.pointee = UInt8(length)
            return SSL_TLSEXT_ERR_OK
        }
        index += 1 + length
    }
    connection.refusal =
        "the client offers \(names.isEmpty ? "no protocol" : names.joined(separator: ", ")), "
        + "this server speaks \(connection.context.protocols.joined(separator: ", "))"
    return SSL_TLSEXT_ERR_ALERT_FATAL
}
