import Sodium

// An EndpointId is an endpoint's Ed25519 public key; its text form is what people
// type and what QR labels carry:
//
//   base32( publicKey[32] || checksum[3] )  =  56 characters, no padding
//
//   alphabet:  RFC 4648 base32, written lowercase ("abcdefghijklmnopqrstuvwxyz234567");
//              read case-insensitively, with '-' and spaces ignored so it can be grouped
//   checksum:  the first 3 bytes of BLAKE2b-256("usbp2p-endpoint-id-v1" || publicKey)
//
// The checksum makes a mistyped id fail to parse (all but 1 in 2^24 random typos),
// so a wrong code is caught before any network traffic.

/// The public identity of one endpoint (a Pi or a laptop): its Ed25519 public key.
public struct EndpointId: Hashable, Sendable, CustomStringConvertible {
    public static let textLength = 56
    static let checksumLength = 3
    static let checksumDomain = Array("usbp2p-endpoint-id-v1".utf8)

    /// The 32-byte Ed25519 public key.
    public let publicKey: [UInt8]

    public init(publicKey: [UInt8]) {
        precondition(publicKey.count == Ed25519.publicKeyLength, "an EndpointId is a 32-byte Ed25519 key")
        self.publicKey = publicKey
    }

    /// Parses the text form; throws an error saying what is wrong with it.
    public init(parsing text: String) throws(EndpointIdError) {
        var symbols: [UInt8] = []
        for (position, character) in text.enumerated() {
            if character == "-" || character == " " { continue }
            guard let value = character.asciiValue.flatMap(Base32.value(of:)) else {
                throw .invalidCharacter(character, position: position + 1)
            }
            symbols.append(value)
        }
        guard symbols.count == Self.textLength else { throw .wrongLength(symbols.count) }
        let bytes = Base32.decode(symbols)
        let key = Array(bytes[0..<Ed25519.publicKeyLength])
        guard Array(bytes[Ed25519.publicKeyLength...]) == Self.checksum(of: key) else { throw .checksumMismatch }
        self.publicKey = key
    }

    public var description: String {
        Base32.encode(publicKey + Self.checksum(of: publicKey))
    }

    static func checksum(of key: [UInt8]) -> [UInt8] {
        Array(BLAKE2b.hash(checksumDomain + key, outputLength: 32).prefix(checksumLength))
    }
}

/// Why a text is not an EndpointId.
public enum EndpointIdError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidCharacter(Character, position: Int)
    case wrongLength(Int)
    case checksumMismatch

    public var description: String {
        switch self {
        case .invalidCharacter(let c, let position):
            return "not an EndpointId: character '\(c)' at position \(position) is not in a-z or 2-7"
        case .wrongLength(let n):
            return "not an EndpointId: it has \(n) characters, an EndpointId has \(EndpointId.textLength)"
        case .checksumMismatch:
            return "not an EndpointId: its checksum does not match, so it was probably mistyped"
        }
    }
}

/// RFC 4648 base32 for whole multiples of 5 bytes (no padding needed).
enum Base32 {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    static func value(of ascii: UInt8) -> UInt8? {
        switch ascii {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): ascii - UInt8(ascii: "a")
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): ascii - UInt8(ascii: "A")
        case UInt8(ascii: "2")...UInt8(ascii: "7"): ascii - UInt8(ascii: "2") + 26
        default: nil
        }
    }

    static func encode(_ bytes: [UInt8]) -> String {
        precondition(bytes.count % 5 == 0)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 5 * 8)
        var accumulator: UInt64 = 0
        var bits = 0
        for byte in bytes {
            accumulator = accumulator << 8 | UInt64(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[Int((accumulator >> UInt64(bits)) & 31)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `symbols` are 5-bit values; their count is a multiple of 8.
    static func decode(_ symbols: [UInt8]) -> [UInt8] {
        precondition(symbols.count % 8 == 0)
        var out: [UInt8] = []
        var accumulator: UInt64 = 0
        var bits = 0
        for symbol in symbols {
            accumulator = accumulator << 5 | UInt64(symbol)
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt64(bits)))
            }
        }
        return out
    }
}
