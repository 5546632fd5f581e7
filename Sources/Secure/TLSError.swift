import COpenSSL

/// Why a TLS handshake or record failed. OpenSSL's error queue is drained into
/// `detail` where it says something; the peer check's own reason wins over OpenSSL's.
public enum TLSError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The peer's certificate key is not the EndpointId we wanted (client: the pinned one;
    /// server: one on the allowlist).
    case peerRefused(String)
    /// The peer offers no application protocol we speak.
    case noCommonProtocol(offered: String)
    /// The handshake failed for another reason (bad records, protocol version, alerts).
    case handshakeFailed(String)
    /// A record after the handshake was bad, or the peer sent an alert.
    case recordFailed(String)
    /// The connection ended before the handshake completed.
    case closedDuringHandshake
    /// Setting OpenSSL up failed (a bug or a broken library).
    case setupFailed(String)

    public var description: String {
        switch self {
        case .peerRefused(let why): "peer refused: \(why)"
        case .noCommonProtocol(let offered): "no common application protocol (offered: \(offered))"
        case .handshakeFailed(let why): "TLS handshake failed: \(why)"
        case .recordFailed(let why): "TLS failed: \(why)"
        case .closedDuringHandshake: "the connection closed during the TLS handshake"
        case .setupFailed(let why): "TLS setup failed: \(why)"
        }
    }
}

enum OpenSSLErrors {
    /// Empties the thread's OpenSSL error queue into one line.
    static func drain() -> String {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            parts.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return parts.isEmpty ? "no detail from OpenSSL" : parts.joined(separator: "; ")
    }
}
