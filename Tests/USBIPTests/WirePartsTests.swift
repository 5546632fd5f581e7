import Testing

@testable import USBIP

@Suite struct WirePartsTests {
    @Test func onePieceIsACollectionOfOne() {
        let parts = WireParts([1, 2, 3])
        #expect(parts.count == 1)
        #expect(Array(parts.joined()) == [1, 2, 3])
    }

    @Test func twoPiecesFollowEachOtherInOrder() {
        let parts = WireParts([1, 2], [3, 4, 5])
        #expect(parts.count == 2)
        #expect(parts.map(Array.init) == [[1, 2], [3, 4, 5]])
        #expect(Array(parts.joined()) == [1, 2, 3, 4, 5])
    }

    @Test func anEmptySecondPieceStillCounts() {
        // A writer frames each piece; an empty one is kept, not dropped, so indices match.
        let parts = WireParts([9], [])
        #expect(parts.count == 2)
        #expect(parts[1].isEmpty)
    }
}
