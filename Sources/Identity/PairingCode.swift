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
//
// The URI may carry hints on how to reach the server, so that a label paired from
// anywhere needs no client configuration (as Iroh's tickets carry relay URLs):
//
//   usbp2p://pair/<72 characters>?relay=198.18.0.1:443&relay-id=<EndpointId>&h=<8 characters>
//   h: base32 of the first 5 bytes of BLAKE2b-256("usbp2p-pairing-hints-v1" || key ||
//      secret || the query before "&h=", as written)
//
// Hints are only hints: the server is still pinned by its key. Keys other than relay and
// relay-id are covered by h and otherwise ignored (a later version's hints); a code
// without them, and every label printed before them, parses as before.

/// How to reach a server, from its pairing code: its relay and the relay's EndpointId.
public struct PairingHints: Equatable, Sendable {
    /// A numeric address and port, "198.18.0.1:443" or "[2001:db8::1]:443".
    public let relay: String
    public let relayId: EndpointId?

    /// Nil when `relay` is not a numeric address with a port.
    public init?(relay: String, relayId: EndpointId?) {
        guard Self.isNumericAddressAndPort(relay) else { return nil }
        self.relay = relay
        self.relayId = relayId
    }

    /// "a.b.c.d:port" or "[v6]:port", port 1-65535.
    static func isNumericAddressAndPort(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port)
        else { return false }
        var host = String(text[..<colon])
        var family = AF_INET
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
            family = AF_INET6
        }
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(family, host, &buffer) == 1
    }
}

/// What `usbp2p-client pair` needs to pair with a server: whom, and the secret.
public struct PairingCode: Equatable, Sendable, CustomStringConvertible {
    public static let secretLength = 10
    static let checksumLength = 3
    static let checksumDomain = Array("usbp2p-pairing-code-v1".utf8)
    static let hintsDomain = Array("usbp2p-pairing-hints-v1".utf8)
    public static let uriPrefix = "usbp2p://pair/"
    static let symbolCount = 72
    /// A query longer than this is not a label's.
    static let maxQuery = 512

    public let server: EndpointId
    public let secret: PairingSecret
    /// How to reach the server, when the code came with hints (only the URI carries them).
    public let hints: PairingHints?

    public init(server: EndpointId, secret: PairingSecret, hints: PairingHints? = nil) {
        self.server = server
        self.secret = secret
        self.hints = hints
    }

    /// Parses the text form or the URI, saying what is wrong with a bad one.
    public init(parsing input: String) throws(PairingCodeError) {
        var text = Substring(input.trimmingSpaces)
        var query: Substring?
        if text.lowercased().hasPrefix(Self.uriPrefix) {
            text = text.dropFirst(Self.uriPrefix.count)
            if let mark = text.firstIndex(of: "?") {
                query = text[text.index(after: mark)...]
                text = text[..<mark]
            }
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
        self.hints = try query.flatMap { query throws(PairingCodeError) in
            try Self.hints(in: query, key: key, secret: secret)
        }
    }

    /// The hints of a URI's query, checked against its `h`.
    static func hints(in query: Substring, key: [UInt8], secret: [UInt8]) throws(PairingCodeError) -> PairingHints? {
        guard query.utf8.count <= maxQuery else { throw .badHints("the part after '?' is too long") }
        // A QR code's URI may come upper-cased (its compact alphabet): keys, base32 and
        // IPv6 hex read in any case, and the checksum covers the lower-case form.
        let lower = query.lowercased()
        let covered: Substring
        let given: Substring
        if lower.hasPrefix("h=") {
            (covered, given) = ("", lower.dropFirst(2))
        } else if let mark = lower.ranges(of: "&h=").last {
            (covered, given) = (lower[..<mark.lowerBound], lower[mark.upperBound...])
        } else {
            throw .badHints("no h= checksum after the hints")
        }
        guard given.count == 8, Self.hintsChecksum(key: key, secret: secret, query: covered) == given else {
            throw .hintsChecksumMismatch
        }
        var relay: String?
        var relayId: EndpointId?
        for pair in covered.split(separator: "&", omittingEmptySubsequences: false) where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw .badHints("'\(pair)' is not key=value") }
            switch parts[0].lowercased() {
            case "relay":
                guard PairingHints.isNumericAddressAndPort(String(parts[1])) else {
                    throw .badHints("relay '\(parts[1])' is not a numeric address and port")
                }
                relay = String(parts[1])
            case "relay-id":
                do throws(EndpointIdError) { relayId = try EndpointId(parsing: String(parts[1])) } catch {
                    throw .badHints("relay-id: \(error)")
                }
            default: continue  // a later version's hint, covered by h
            }
        }
        guard let relay else {
            if relayId != nil { throw .badHints("relay-id without relay") }
            return nil
        }
        return PairingHints(relay: relay, relayId: relayId)
    }

    static func hintsChecksum(key: [UInt8], secret: [UInt8], query: Substring) -> String {
        Base32.encode(Array(BLAKE2b.hash(hintsDomain + key + secret + Array(query.utf8), outputLength: 32).prefix(5)))
    }

    /// The text form, in groups of four characters.
    public var description: String {
        let symbols = Array(Base32.encode(payload))
        return stride(from: 0, to: symbols.count, by: 4).map { String(symbols[$0..<min($0 + 4, symbols.count)]) }
            .joined(separator: "-")
    }

    /// The URI form (what the QR code holds): ungrouped, so the QR code stays small; with
    /// the hints, if any.
    public var uri: String {
        let base = Self.uriPrefix + Base32.encode(payload)
        guard let hints else { return base }
        let query = ("relay=\(hints.relay)" + (hints.relayId.map { "&relay-id=\($0)" } ?? "")).lowercased()
        return base + "?" + query + "&h="
            + Self.hintsChecksum(key: server.publicKey, secret: secret.bytes, query: Substring(query))
    }

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
    case badHints(String)
    case hintsChecksumMismatch

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
        case .badHints(let why): "the pairing code's hints after '?' are not readable: \(why)"
        case .hintsChecksumMismatch:
            "the pairing code's hints after '?' do not match their checksum (h=): the URI was changed or cut; "
                + "scan the label again, or type the code without them"
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
