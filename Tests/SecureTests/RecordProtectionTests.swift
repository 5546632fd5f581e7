import Testing

@testable import Secure

/// One direction's record protection, on its own: sealing and opening with derived keys,
/// and the record headers a peer may not send.
@Suite struct RecordProtectionTests {
    static let suites: [RecordProtection.Suite] = [.aes128GCM, .aes256GCM, .chaCha20Poly1305]
    let secret = [UInt8](repeating: 0x5a, count: 48)

    /// Seals `plaintext` with `sealer` into a fresh array.
    func seal(_ plaintext: [UInt8], _ sealer: RecordProtection, type: RecordProtection.ContentType = .applicationData)
        throws -> [UInt8]
    {
        var record = [UInt8](repeating: 0, count: RecordProtection.sealedLength(plaintext.count))
        let n = try plaintext.withUnsafeBytes { source in
            try record.withUnsafeMutableBytes { try sealer.seal(source, type: type, into: $0.baseAddress!) }
        }
        #expect(n == record.count)
        return record
    }

    func open(_ record: [UInt8], _ opener: RecordProtection) throws -> (type: UInt8, bytes: [UInt8]) {
        var output = [UInt8](repeating: 0, count: record.count)
        let (type, count) = try record.withUnsafeBytes { source in
            try output.withUnsafeMutableBytes { try opener.open(source, into: $0.baseAddress!) }
        }
        return (type, Array(output[0..<count]))
    }

    @Test(arguments: suites)
    func aRecordOpensWithTheSameSecretAndCarriesItsContentType(suite: RecordProtection.Suite) throws {
        let sealer = try RecordProtection(suite: suite, secret: secret, sealing: true)
        let opener = try RecordProtection(suite: suite, secret: secret, sealing: false)
        for (text, type) in [
            ("first", RecordProtection.ContentType.applicationData), ("", .applicationData), ("x", .alert),
        ] {
            let opened = try open(try seal(Array(text.utf8), sealer, type: type), opener)
            #expect(opened.type == type.rawValue)
            #expect(opened.bytes == Array(text.utf8))
        }
        #expect(sealer.sequence == 3 && opener.sequence == 3)
    }

    @Test(arguments: suites)
    func aRecordDoesNotOpenUnderAnotherSecretOrOutOfOrder(suite: RecordProtection.Suite) throws {
        let sealer = try RecordProtection(suite: suite, secret: secret, sealing: true)
        let first = try seal(Array("one".utf8), sealer)
        let second = try seal(Array("one".utf8), sealer)
        // Each record's nonce is new: the same plaintext seals differently.
        #expect(first != second)
        let stranger = try RecordProtection(suite: suite, secret: secret.map { $0 ^ 1 }, sealing: false)
        #expect(throws: TLSError.self) { _ = try open(first, stranger) }
        let reordered = try RecordProtection(suite: suite, secret: secret, sealing: false)
        #expect(throws: TLSError.self) { _ = try open(second, reordered) }
    }

    @Test func aKeyUpdateOnBothSidesKeepsRecordsOpening() throws {
        let sealer = try RecordProtection(suite: .aes256GCM, secret: secret, sealing: true)
        let opener = try RecordProtection(suite: .aes256GCM, secret: secret, sealing: false)
        _ = try open(try seal([1], sealer), opener)
        try sealer.updateKey()
        let record = try seal([2], sealer)
        #expect(sealer.sequence == 1)
        let stale = try RecordProtection(suite: .aes256GCM, secret: secret, sealing: false)
        #expect(throws: TLSError.self) { _ = try open(record, stale) }
        try opener.updateKey()
        #expect(try open(record, opener).bytes == [2])
    }

    /// Seals `inner` as the whole TLSInnerPlaintext: its last byte stands where the content
    /// type goes, so zeros after it are padding (RFC 8446, section 5.4).
    func sealInner(_ inner: [UInt8], _ sealer: RecordProtection) throws -> [UInt8] {
        var record = [UInt8](repeating: 0, count: RecordProtection.sealedLength(inner.count - 1))
        _ = try inner.dropLast().withUnsafeBytes { source in
            try record.withUnsafeMutableBytes { try sealer.seal(source, typeByte: inner.last!, into: $0.baseAddress!) }
        }
        return record
    }

    @Test func paddingAfterTheContentTypeIsRemovedAndARecordOfOnlyZerosIsRefused() throws {
        let sealer = try RecordProtection(suite: .aes128GCM, secret: secret, sealing: true)
        let opener = try RecordProtection(suite: .aes128GCM, secret: secret, sealing: false)
        let padded = try open(try sealInner(Array("hi".utf8) + [23, 0, 0, 0], sealer), opener)
        #expect(padded.type == 23)
        #expect(padded.bytes == Array("hi".utf8))
        #expect(throws: TLSError.self) { _ = try open(try sealInner([0, 0, 0], sealer), opener) }
    }

    @Test func headersNoPeerSendsAfterTheHandshakeAreRefusedBeforeTheBodyArrives() throws {
        func length(_ header: [UInt8]) throws -> Int? {
            try header.withUnsafeBytes { try RecordProtection.recordLength(at: $0) }
        }
        #expect(try length([23, 3, 3, 0]) == nil)  // not a whole header yet
        #expect(try length([23, 3, 3, 0, 17]) == 22)
        #expect(try length([23, 3, 3, 0x41, 0x00]) == 5 + (1 << 14) + 256)
        for header: [UInt8] in [
            [22, 3, 3, 0, 40],  // a plaintext handshake record
            [20, 3, 3, 0, 1],  // change_cipher_spec after the handshake
            [23, 3, 1, 0, 40],  // another version
            [23, 3, 3, 0x41, 0x01],  // 2^14 + 257 bytes
            [23, 3, 3, 0, 16],  // no room for a content type beside the tag
        ] {
            #expect(throws: TLSError.self) { _ = try length(header) }
        }
    }

    @Test func theSuitesOpenSSLNamesMapToTheirKeySizes() {
        #expect(RecordProtection.Suite(openSSLName: "TLS_AES_128_GCM_SHA256")?.keyLength == 16)
        #expect(RecordProtection.Suite(openSSLName: "TLS_AES_256_GCM_SHA384")?.keyLength == 32)
        #expect(RecordProtection.Suite(openSSLName: "TLS_CHACHA20_POLY1305_SHA256")?.keyLength == 32)
        #expect(RecordProtection.Suite(openSSLName: "TLS_AES_128_CCM_SHA256") == nil)
    }
}
