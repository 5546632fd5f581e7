import Sodium
import Testing

@Suite struct BLAKE2bTests {
    /// RFC 7693, Appendix A: BLAKE2b-512("abc").
    @Test func digestOfAbcMatchesRFC7693() {
        let expected = bytes(
            """
            ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1\
            7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923
            """)
        #expect(BLAKE2b.hash(Array("abc".utf8), outputLength: 64) == expected)
    }

    @Test func keyChangesTheDigest() {
        let message = Array("pairing".utf8)
        #expect(BLAKE2b.hash(message, key: [1]) != BLAKE2b.hash(message, key: [2]))
        #expect(BLAKE2b.hash(message, key: [1]) == BLAKE2b.hash(message, key: [1]))
    }
}

@Suite struct SodiumTests {
    @Test func randomBytesDifferEachTime() {
        #expect(Sodium.randomBytes(32) != Sodium.randomBytes(32))
        #expect(Sodium.randomBytes(7).count == 7)
    }

    @Test func constantTimeEqualComparesContentAndLength() {
        #expect(Sodium.constantTimeEqual([1, 2], [1, 2]))
        #expect(!Sodium.constantTimeEqual([1, 2], [1, 3]))
        #expect(!Sodium.constantTimeEqual([1, 2], [1, 2, 3]))
        #expect(Sodium.constantTimeEqual([], []))
    }

    @Test func versionIsReported() {
        #expect(Sodium.version.split(separator: ".").count >= 2)
    }
}
