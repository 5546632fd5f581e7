import FileSystem
import Sodium

#if canImport(Glibc)
    import Glibc
#endif

// A pairing code carries a server's EndpointId and its pairing secret; it is printed on
// the appliance's label as a QR code and as text:
//
//   payload = publicKey[32] || secret[10] || checksum[3]            (45 bytes)
//   text    = base32(payload), 72 characters, grouped by 4 with '-'
//   URI     = usbp2p://pair/<72 characters>
//   checksum: the first 3 bytes of BLAKE2b-256("usbp2p-pairing-code-v1" || key || secret)
//
// The same base32 as EndpointIds (read case-insensitively, '-' and spaces ignored), so
// a code can be typed from the label; the checksum catches a typo before any traffic.
// 80 bits of secret: an attacker gets three guesses per pairing window (PairingWindow).

/// What `usbp2p-client pair` needs to pair with a server: whom, and the secret.
public struct PairingCode: Equatable, Sendable, CustomStringConvertible {
    public static let secretLength = 10
    static let checksumLength = 3
    static let checksumDomain = Array("usbp2p-pairing-code-v1".utf8)
    public static let uriPrefix = "usbp2p://pair/"
    static let symbolCount = 72

    public let server: EndpointId
    public let secret: PairingSecret

    public init(server: EndpointId, secret: PairingSecret) {
        self.server = server
        self.secret = secret
    }

    /// Parses the text form or the URI, saying what is wrong with a bad one.
    public init(parsing input: String) throws(PairingCodeError) {
        var text = Substring(input.trimmingSpaces)
        if text.lowercased().hasPrefix(Self.uriPrefix) {
            text = text.dropFirst(Self.uriPrefix.count)
        } else if text.lowercased().hasPrefix("usbp2p:") {
            throw .notAPairingURI
        }
        var symbols: [UInt8] = []
        for (position, character) in text.enumerated() {
            if character == "-" || character.isWhitespace { continue }
            guard let value = character.asciiValue.flatMap(Base32.value(of:)) else {
                throw .invalidCharacter(character, position: position + 1)
            }
            symbols.append(value)
        }
        guard symbols.count == Self.symbolCount else { throw .wrongLength(symbols.count) }
        let bytes = Base32.decode(symbols)
        let key = Array(bytes[0..<32])
        let secret = Array(bytes[32..<(32 + Self.secretLength)])
        guard Array(bytes[(32 + Self.secretLength)...]) == Self.checksum(key: key, secret: secret) else {
            throw .checksumMismatch
        }
        self.server = EndpointId(publicKey: key)
        self.secret = PairingSecret(bytes: secret)!
    }

    /// The text form, in groups of four characters.
    public var description: String {
        let symbols = Array(Base32.encode(payload))
        return stride(from: 0, to: symbols.count, by: 4).map { String(symbols[$0..<min($0 + 4, symbols.count)]) }
            .joined(separator: "-")
    }

    /// The URI form (what the QR code holds): ungrouped, so the QR code stays small.
    public var uri: String { Self.uriPrefix + Base32.encode(payload) }

    var payload: [UInt8] {
        server.publicKey + secret.bytes + Self.checksum(key: server.publicKey, secret: secret.bytes)
    }

    static func checksum(key: [UInt8], secret: [UInt8]) -> [UInt8] {
        Array(BLAKE2b.hash(checksumDomain + key + secret, outputLength: 32).prefix(checksumLength))
    }
}

/// Why a text is not a pairing code.
public enum PairingCodeError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidCharacter(Character, position: Int)
    case wrongLength(Int)
    case checksumMismatch
    case notAPairingURI

    public var description: String {
        switch self {
        case .invalidCharacter(let c, let position):
            "not a pairing code: character '\(c)' at position \(position) is not in a-z or 2-7"
        case .wrongLength(let n):
            "not a pairing code: it has \(n) characters, a pairing code has \(PairingCode.symbolCount) "
                + "(not counting the dashes)"
        case .checksumMismatch:
            "not a pairing code: its checksum does not match, so it was probably mistyped; check it against the label"
        case .notAPairingURI: "not a pairing code: a usbp2p URI for pairing starts with \(PairingCode.uriPrefix)"
        }
    }
}

/// A server's pairing secret: 10 random bytes, kept in state_directory/pairing.secret and
/// printed only inside its pairing code.
public struct PairingSecret: Equatable, Sendable {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == PairingCode.secretLength else { return nil }
        self.bytes = bytes
    }

    public static func random() -> PairingSecret { PairingSecret(bytes: Sodium.randomBytes(PairingCode.secretLength))! }
}

extension PairingSecret {
    /// The secret in `path` (16 base32 characters and a newline), made and saved there
    /// (mode 0600) first if the file does not exist.
    public static func loadOrCreate(at path: String) throws(PairingSecretError) -> (PairingSecret, created: Bool) {
        if AtomicFile.exists(path) { return (try load(from: path), false) }
        let secret = random()
        do throws(SystemError) {
            let directory = AtomicFile.parentDirectory(of: path)
            if !AtomicFile.isDirectory(directory) { try AtomicFile.createDirectory(directory, mode: 0o700) }
            try AtomicFile.write(Array((Base32.encode(secret.bytes) + "\n").utf8), to: path, mode: 0o600)
        } catch {
            throw .unreadable(error)
        }
        return (secret, true)
    }

    /// The secret at `path`, refused (as a key file is) when others may read it: whoever
    /// reads it can pair with this server while its window is open.
    public static func load(from path: String) throws(PairingSecretError) -> PairingSecret {
        let mode: mode_t
        do throws(SystemError) { mode = try AtomicFile.attributes(path).mode } catch { throw .unreadable(error) }
        guard mode & 0o077 == 0 else { throw .insecurePermissions(path: path, mode: mode) }
        let bytes: [UInt8]
        do throws(SystemError) { bytes = try AtomicFile.read(path, maxSize: 256) } catch { throw .unreadable(error) }
        let text = String(decoding: bytes, as: UTF8.self).trimmingSpaces.filter { !$0.isNewline }
        let symbols = text.compactMap { $0.asciiValue.flatMap(Base32.value(of:)) }
        guard symbols.count == 16, text.count == 16, let secret = PairingSecret(bytes: Base32.decode(symbols)) else {
            throw .malformed(path: path)
        }
        return secret
    }
}

public enum PairingSecretError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(SystemError)
    case malformed(path: String)
    case insecurePermissions(path: String, mode: mode_t)

    public var description: String {
        switch self {
        case .unreadable(let error): "pairing secret: \(error)"
        case .insecurePermissions(let path, let mode):
            "pairing secret \(path) may be read by others (mode \(String(mode, radix: 8))); run 'chmod 600 \(path)' "
                + "if it was never exposed, or delete it to make a new one (the printed label then stops working)"
        case .malformed(let path):
            "pairing secret \(path): expected 16 base32 characters (a-z, 2-7); remove the file to make a new one "
                + "(the old pairing code then stops working)"
        }
    }
}
