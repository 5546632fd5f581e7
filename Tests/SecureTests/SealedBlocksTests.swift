import Testing

@testable import Secure

/// The count that ends a kernel TLS connection before its key has sealed too much.
@Suite struct SealedBlocksTests {
    @Test func aKeyIsUsedUpByItsRecordsWorthOfBytesNotByItsNumberOfSends() throws {
        var sealed = SealedBlocks(recordsPerKey: 4)
        // Four full records' worth (4 × 1025 blocks) in small sends: many more than four.
        for _ in 0..<100 { try sealed.add(512) }
        #expect(sealed.blocks == 100 * (32 + 1 + 0 + 2))
        #expect(throws: TLSError.self) {
            for _ in 0..<100 { try sealed.add(512) }
        }
    }

    @Test func nothingSentCountsNothingAndTheLimitIsFullRecordsAndTheirTags() throws {
        var sealed = SealedBlocks(recordsPerKey: 1 << 24)
        try sealed.add(0)
        #expect(sealed.blocks == 0)
        #expect(sealed.limit == (1 << 24) * 1025)
        try sealed.add(1 << 14)
        #expect(sealed.blocks == 1024 + 1 + 1 + 2)
    }
}
