import Identity
import Sodium

// The client proves it holds the pairing secret without sending it, and bound to this
// one TLS connection (design brief, "Pairing"):
//
//   key      = BLAKE2b-256(secret, key: "usbp2p-pair/1 mac key")
//   exporter = TLS-Exporter("EXPORTER-usbp2p-pair/1", "", 32)      (RFC 8446 §7.5)
//   proof    = BLAKE2b-256("usbp2p-pair/1 client proof" || exporter, key: key)
//
// The exporter is a secret both ends derive from this connection's handshake (which
// covers both certificates), so a proof seen or replayed on another connection is wrong
// there, and only someone holding the secret can make a right one.

public enum PairingProof {
    public static let exporterLabel = "EXPORTER-usbp2p-pair/1"
    public static let exporterLength = 32
    public static let length = 32
    static let keyDomain = Array("usbp2p-pair/1 mac key".utf8)
    static let proofDomain = Array("usbp2p-pair/1 client proof".utf8)

    public static func make(secret: PairingSecret, exporter: [UInt8]) -> [UInt8] {
        let key = BLAKE2b.hash(secret.bytes, key: keyDomain, outputLength: 32)
        return BLAKE2b.hash(proofDomain + exporter, key: key, outputLength: length)
    }

    public static func isValid(_ proof: [UInt8], secret: PairingSecret, exporter: [UInt8]) -> Bool {
        proof.count == length && Sodium.constantTimeEqual(proof, make(secret: secret, exporter: exporter))
    }
}
