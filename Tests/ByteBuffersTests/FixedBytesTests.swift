import ByteBuffers
import Testing

@Suite struct FixedBytesTests {
    @Test func aSliceIsClampedToItsBlock() {
        let block = FixedBytes(copying: [1, 2, 3, 4])
        #expect(Array(block.slice(2..<10)) == [3, 4])
        #expect(block.slice(-3..<1).range == 0..<1)
        #expect(block.slice(7..<9).isEmpty)
    }

    @Test func aSliceIndexesByPositionInTheBlockAndSlicesWithoutCopying() {
        let block = FixedBytes(copying: Array(0..<100).map(UInt8.init))
        let slice = block.slice(10..<90)
        #expect(slice.startIndex == 10 && slice[10] == 10 && slice.count == 80)
        let inner = slice[20..<30]
        #expect(inner.block === block)
        #expect(Array(inner) == Array(20..<30).map(UInt8.init))
        #expect(inner.copied() == Array(20..<30).map(UInt8.init))
        #expect(inner.withUnsafeBytes { Array($0) } == Array(20..<30).map(UInt8.init))
    }

    @Test func aSliceKeepsItsBytesAfterEveryOtherReferenceToTheBlockIsGone() {
        func sliceOfATransientBlock() -> FixedBytes.Slice {
            FixedBytes(copying: [UInt8](repeating: 0x5A, count: 65_536)).slice(100..<65_000)
        }
        let slice = sliceOfATransientBlock()
        #expect(slice.copied() == [UInt8](repeating: 0x5A, count: 64_900))
    }

    @Test func anEmptySliceHasNoBytes() {
        #expect(FixedBytes.Slice().isEmpty)
        #expect(FixedBytes.Slice().copied() == [])
    }
}

@Suite struct FixedBytesFillTests {
    @Test func fillingCopiesWhatTheBlockHoldsFromTheOffsetAndSaysHowMuch() {
        let block = FixedBytes(copying: [UInt8](repeating: 0, count: 8))
        #expect(block.fill(at: 5, with: [1, 2, 3, 4, 5][...]) == 3)
        #expect(block.slice(0..<8).copied() == [0, 0, 0, 0, 0, 1, 2, 3])
    }

    @Test func aReadFillsOnlyTheRangeItIsGivenClampedToTheBlock() {
        let block = FixedBytes(copying: [UInt8](repeating: 0, count: 8))
        let n = block.fill(6..<20) { storage in
            #expect(storage.count == 2)
            storage.storeBytes(of: 0xAB, toByteOffset: 0, as: UInt8.self)
            return 1
        }
        #expect(n == 1)
        #expect(block.slice(0..<8).copied() == [0, 0, 0, 0, 0, 0, 0xAB, 0])
    }
}
