import Identity
import Secure
import Sockets

// Messages between an endpoint and the relay, inside the relay's TLS, before splicing.
// Each is: kind u8, length u16 (big-endian), payload[length ≤ 512].
//
//   RelayToEndpoint                               EndpointToRelay
//   1 challenge  nonce[32], observed address      1 register  purpose u8, id[32], signature[64], argument
//   2 accepted   (after it: the peer's bytes,         purpose 1 listen:  no argument
//                 or incoming notices for a listener) 2 connect: target id[32]
//   3 refused    reason (text)                        3 accept:  token[16]
//   4 incoming   token[16], from id[32]           2 ping
//   5 pong
//
// The signature is Ed25519 over "usbp2p-relay-register-v1" ‖ nonce ‖ purpose ‖ argument:
// fresh per connection (the nonce), bound to what is asked (purpose and argument).

public enum RelayPurpose: Equatable, Sendable {
    /// A server waiting for clients: the relay tells it of each one (`incoming`).
    case listen
    /// A client asking for a server.
    case connect(target: EndpointId)
    /// A server taking up the client that `incoming` announced.
    case accept(token: [UInt8])

    var code: UInt8 {
        switch self {
        case .listen: 1
        case .connect: 2
        case .accept: 3
        }
    }

    var argument: [UInt8] {
        switch self {
        case .listen: []
        case .connect(let target): target.publicKey
        case .accept(let token): token
        }
    }
}

public enum RelayToEndpoint: Equatable, Sendable {
    case challenge(nonce: [UInt8], observed: String)
    case accepted
    case refused(String)
    case incoming(token: [UInt8], from: EndpointId)
    case pong
}

public enum EndpointToRelay: Equatable, Sendable {
    case register(RelayPurpose, id: EndpointId, signature: [UInt8])
    case ping
}

public enum RelayMessageError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    public var description: String {
        switch self {
        case .malformed(let why): "malformed relay message: \(why)"
        }
    }
}

enum RelayWire {
    static let maxPayload = 512
    static let nonceLength = 32
    /// The longest observed address a challenge carries ("[IPv6]:port" needs 47).
    static let maxObservedLength = 128
    static let tokenLength = 16
    static let signatureDomain = Array("usbp2p-relay-register-v2".utf8)
    /// The TLS exporter (RFC 5705, RFC 8446 section 7.5) label the signature binds.
    static let exporterLabel = "EXPORTER-usbp2p-relay-register"
    static let exporterLength = 32

    /// What an endpoint signs to register: the relay's own key and this TLS connection's
    /// exporter value beside the relay's nonce, so a relay (or anyone who sees the
    /// signature) cannot present it to another relay or on another connection.
    static func signedBytes(nonce: [UInt8], purpose: RelayPurpose, relay: EndpointId, exporter: [UInt8]) -> [UInt8] {
        signatureDomain + relay.publicKey + exporter + nonce + [purpose.code] + purpose.argument
    }

    /// The exporter value of `stream`'s TLS connection, for `signedBytes`.
    static func exporter(of stream: TLSStream) throws(TLSError) -> [UInt8] {
        try stream.connection.exportKeyingMaterial(label: exporterLabel, context: [], length: exporterLength)
    }

    /// `text`'s UTF-8, cut to at most `limit` bytes at a character boundary (a cut inside
    /// a character would leave bytes the other side rightly refuses as not UTF-8).
    static func utf8(_ text: String, atMost limit: Int) -> [UInt8] {
        let bytes = Array(text.utf8)
        guard bytes.count > limit else { return bytes }
        var end = limit
        while end > 0, bytes[end] & 0xC0 == 0x80 { end -= 1 }
        return Array(bytes[..<end])
    }

    static func frame(_ kind: UInt8, _ payload: [UInt8]) -> [UInt8] {
        precondition(payload.count <= maxPayload)
        return [kind, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)] + payload
    }
}

extension RelayToEndpoint {
    public var encoded: [UInt8] {
        switch self {
        case .challenge(let nonce, let observed):
            RelayWire.frame(1, nonce + RelayWire.utf8(observed, atMost: RelayWire.maxObservedLength))
        case .accepted: RelayWire.frame(2, [])
        case .refused(let reason): RelayWire.frame(3, RelayWire.utf8(reason, atMost: RelayWire.maxPayload))
        case .incoming(let token, let from): RelayWire.frame(4, token + from.publicKey)
        case .pong: RelayWire.frame(5, [])
        }
    }

    /// Decodes the message of one frame (kind and payload, as `RelayMessageReader` reads them).
    public init(kind: UInt8, payload: [UInt8]) throws(RelayMessageError) {
        // RelayMessageReader never reads more; a caller that hands in more is refused too.
        guard payload.count <= RelayWire.maxPayload else { throw .malformed("a payload of \(payload.count) bytes") }
        switch kind {
        case 1:
            guard payload.count >= RelayWire.nonceLength else { throw .malformed("short challenge") }
            // The observed address is "host:port": short, and text.
            guard payload.count - RelayWire.nonceLength <= RelayWire.maxObservedLength,
                let observed = String(validating: payload[32...], as: UTF8.self)
            else { throw .malformed("an observed address that is not a short UTF-8 text") }
            self = .challenge(nonce: Array(payload[0..<32]), observed: observed)
        case 2:
            guard payload.isEmpty else { throw .malformed("accepted with a payload") }
            self = .accepted
        case 3:
            guard let reason = String(validating: payload, as: UTF8.self) else {
                throw .malformed("a refusal that is not UTF-8 text")
            }
            self = .refused(reason)
        case 4:
            guard payload.count == RelayWire.tokenLength + 32 else {
                throw .malformed("incoming of \(payload.count) bytes")
            }
            self = .incoming(token: Array(payload[0..<16]), from: EndpointId(publicKey: Array(payload[16...])))
        case 5:
            guard payload.isEmpty else { throw .malformed("pong with a payload") }
            self = .pong
        default: throw .malformed("unknown kind \(kind) from the relay")
        }
    }
}

extension EndpointToRelay {
    public var encoded: [UInt8] {
        switch self {
        case .register(let purpose, let id, let signature):
            RelayWire.frame(1, [purpose.code] + id.publicKey + signature + purpose.argument)
        case .ping: RelayWire.frame(2, [])
        }
    }

    /// Decodes the message of one frame (kind and payload, as `RelayMessageReader` reads them).
    public init(kind: UInt8, payload: [UInt8]) throws(RelayMessageError) {
        // RelayMessageReader never reads more; a caller that hands in more is refused too.
        guard payload.count <= RelayWire.maxPayload else { throw .malformed("a payload of \(payload.count) bytes") }
        switch kind {
        case 1:
            guard payload.count >= 1 + 32 + 64 else { throw .malformed("short registration") }
            let id = EndpointId(publicKey: Array(payload[1..<33]))
            let signature = Array(payload[33..<97])
            let argument = Array(payload[97...])
            let purpose: RelayPurpose
            switch payload[0] {
            case 1 where argument.isEmpty: purpose = .listen
            case 2 where argument.count == 32: purpose = .connect(target: EndpointId(publicKey: argument))
            case 3 where argument.count == RelayWire.tokenLength: purpose = .accept(token: argument)
            default: throw .malformed("registration purpose \(payload[0]) with \(argument.count) bytes")
            }
            self = .register(purpose, id: id, signature: signature)
        case 2:
            guard payload.isEmpty else { throw .malformed("ping with a payload") }
            self = .ping
        default: throw .malformed("unknown kind \(kind) from an endpoint")
        }
    }
}

/// Reads one relay message from a stream, exactly (bytes after it are the next
/// message's, or the spliced peer's), its length bounded before reading.
public enum RelayMessageReader {
    public static func read(from stream: any ByteStream) throws -> (kind: UInt8, payload: [UInt8]) {
        let header = try readExactly(3, from: stream)
        let length = Int(header[1]) << 8 | Int(header[2])
        guard length <= RelayWire.maxPayload else { throw RelayMessageError.malformed("message of \(length) bytes") }
        return (header[0], try readExactly(length, from: stream))
    }

    static func readExactly(_ count: Int, from stream: any ByteStream) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while bytes.count < count {
            var chunk = [UInt8](repeating: 0, count: count - bytes.count)
            let n = try stream.read(into: &chunk)
            guard n > 0 else { throw RelayError.closed }
            bytes += chunk[0..<n]
        }
        return bytes
    }
}

/// What the relay and its clients fail with.
public enum RelayError: Error, Equatable, Sendable, CustomStringConvertible {
    case closed
    case refused(String)
    case unexpected(String)

    public var description: String {
        switch self {
        case .closed: "the relay connection closed"
        case .refused(let why): "the relay refused: \(why)"
        case .unexpected(let what): "unexpected from the relay: \(what)"
        }
    }
}
