import Sodium

/// An endpoint's own key pair: what proves it is the EndpointId it claims.
public struct EndpointIdentity: Sendable {
    /// The 32-byte Ed25519 seed, from which the key pair is derived.
    let seed: [UInt8]
    let secretKey: [UInt8]
    public let endpointId: EndpointId

    public init(seed: [UInt8]) {
        let pair = Ed25519.keyPair(seed: seed)
        self.seed = seed
        self.secretKey = pair.secretKey
        self.endpointId = EndpointId(publicKey: pair.publicKey)
    }

    /// A new identity from the system's CSPRNG.
    public static func generate() -> EndpointIdentity {
        EndpointIdentity(seed: Sodium.randomBytes(Ed25519.seedLength))
    }

    /// The private seed, for handing the key to the TLS handshake (OpenSSL signs the
    /// handshake with it). Nothing else should read it.
    public var privateSeed: [UInt8] { seed }

    public func sign(_ message: [UInt8]) -> [UInt8] {
        Ed25519.sign(message, secretKey: secretKey)
    }
}

extension EndpointId {
    /// Whether `signature` is this endpoint's signature of `message`.
    public func verify(signature: [UInt8], of message: [UInt8]) -> Bool {
        Ed25519.verify(signature: signature, message: message, publicKey: publicKey)
    }
}
