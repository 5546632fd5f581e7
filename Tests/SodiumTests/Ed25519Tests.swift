import Sodium
import Testing

/// Ed25519 through libsodium, checked against RFC 8032's test vectors.
@Suite struct Ed25519Tests {
    /// RFC 8032, section 7.1, TEST 1 (empty message).
    static let seed = bytes("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    static let publicKey = bytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    static let signature = bytes(
        """
        e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b
        """)

    @Test func seedGivesTheRFC8032PublicKey() {
        #expect(Ed25519.keyPair(seed: Self.seed).publicKey == Self.publicKey)
    }

    @Test func signatureOfTheEmptyMessageMatchesRFC8032() {
        let secretKey = Ed25519.keyPair(seed: Self.seed).secretKey
        #expect(Ed25519.sign([], secretKey: secretKey) == Self.signature)
        #expect(Ed25519.verify(signature: Self.signature, message: [], publicKey: Self.publicKey))
    }

    @Test func alteredMessageOrSignatureFailsToVerify() {
        let secretKey = Ed25519.keyPair(seed: Self.seed).secretKey
        let signature = Ed25519.sign([1, 2, 3], secretKey: secretKey)
        #expect(!Ed25519.verify(signature: signature, message: [1, 2, 4], publicKey: Self.publicKey))
        var broken = signature
        broken[0] ^= 1
        #expect(!Ed25519.verify(signature: broken, message: [1, 2, 3], publicKey: Self.publicKey))
    }

    @Test func malformedLengthsVerifyAsFalseInsteadOfTrapping() {
        #expect(!Ed25519.verify(signature: [1, 2], message: [], publicKey: Self.publicKey))
        #expect(!Ed25519.verify(signature: Self.signature, message: [], publicKey: [1]))
    }
}

func bytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.filter { !$0.isWhitespace })
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}
