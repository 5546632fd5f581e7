// The two messages of `usbp2p-pair/1`, inside TLS once the handshake is done:
//
//   request (client → server):  "UPQ1" | proof[32] | nameLength u8 | name (UTF-8, ≤ 64 bytes)
//   reply   (server → client):  "UPR1" | status u8 | textLength u8 | text (UTF-8)
//
// status: 0 paired (text: the server's name), 1 window not open, 2 wrong proof (text says
// how many tries are left), 3 too many wrong proofs (window closed), 4 malformed
// request, 5 the server failed (text says why). Then both ends close.

/// A laptop asking to be paired, with its proof and the name it goes by.
public struct PairingRequest: Equatable, Sendable {
    static let magic = Array("UPQ1".utf8)
    public static let maxNameBytes = 64

    public let proof: [UInt8]
    public let name: String

    public init(proof: [UInt8], name: String) {
        precondition(proof.count == PairingProof.length)
        self.proof = proof
        // Cut at a character boundary, so the name stays valid UTF-8.
        var cut = ""
        for character in name where !character.isNewline {
            if cut.utf8.count + String(character).utf8.count > Self.maxNameBytes { break }
            cut.append(character)
        }
        self.name = cut
    }

    public var encoded: [UInt8] { Self.magic + proof + [UInt8(name.utf8.count)] + Array(name.utf8) }

    /// The request at the start of `bytes`: nil while more bytes are needed.
    public static func decode(_ bytes: [UInt8]) throws(PairingMessageError) -> PairingRequest? {
        let fixed = magic.count + PairingProof.length + 1
        if bytes.count >= magic.count, Array(bytes.prefix(magic.count)) != magic { throw .badMagic }
        guard bytes.count >= fixed else { return nil }
        let nameLength = Int(bytes[fixed - 1])
        guard nameLength <= maxNameBytes else { throw .tooLong(nameLength) }
        guard bytes.count >= fixed + nameLength else { return nil }
        guard bytes.count == fixed + nameLength else { throw .trailingBytes }
        guard let name = String(validating: bytes[fixed...], as: UTF8.self) else { throw .notUTF8 }
        return PairingRequest(proof: Array(bytes[magic.count..<(fixed - 1)]), name: name)
    }
}

/// The server's answer.
public struct PairingReply: Equatable, Sendable {
    static let magic = Array("UPR1".utf8)

    public enum Status: UInt8, Sendable {
        case paired = 0
        case notOpen, wrongProof, tooManyWrongProofs, malformed, failed
    }

    public let status: Status
    public let text: String

    public init(status: Status, text: String) {
        self.status = status
        var cut = ""
        for character in text where !character.isNewline {
            if cut.utf8.count + String(character).utf8.count > 255 { break }
            cut.append(character)
        }
        self.text = cut
    }

    public var encoded: [UInt8] { Self.magic + [status.rawValue, UInt8(text.utf8.count)] + Array(text.utf8) }

    public static func decode(_ bytes: [UInt8]) throws(PairingMessageError) -> PairingReply? {
        if bytes.count >= magic.count, Array(bytes.prefix(magic.count)) != magic { throw .badMagic }
        guard bytes.count >= magic.count + 2 else { return nil }
        guard let status = Status(rawValue: bytes[magic.count]) else { throw .unknownStatus(bytes[magic.count]) }
        let length = Int(bytes[magic.count + 1])
        let start = magic.count + 2
        guard bytes.count >= start + length else { return nil }
        guard bytes.count == start + length else { throw .trailingBytes }
        guard let text = String(validating: bytes[start...], as: UTF8.self) else { throw .notUTF8 }
        return PairingReply(status: status, text: text)
    }
}

public enum PairingMessageError: Error, Equatable, Sendable, CustomStringConvertible {
    case badMagic
    case tooLong(Int)
    case trailingBytes
    case notUTF8
    case unknownStatus(UInt8)
    case truncated

    public var description: String {
        switch self {
        case .badMagic: "not a usbp2p-pair/1 message"
        case .tooLong(let n): "a name of \(n) bytes (at most \(PairingRequest.maxNameBytes))"
        case .trailingBytes: "bytes after the message"
        case .notUTF8: "text that is not UTF-8"
        case .unknownStatus(let s): "unknown status \(s)"
        case .truncated: "the connection ended inside the message"
        }
    }
}
