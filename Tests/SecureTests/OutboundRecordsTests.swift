import Testing

@testable import Secure

@Suite struct OutboundRecordsTests {
    private static func add(_ bytes: [UInt8], to records: OutboundRecords) {
        bytes.withUnsafeBytes { records.add($0) }
    }

    @Test func recordsAddedInPiecesAreHandedOverWholeAndInOrderBySwapping() {
        let records = OutboundRecords()
        let first = (0..<20_000).map { UInt8(truncatingIfNeeded: $0) }
        let second = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 3) }
        Self.add(first, to: records)
        Self.add(second, to: records)  // grows past its first room, keeping what waits
        var buffer = [UInt8](repeating: 9, count: 100)
        let end = records.swap(with: &buffer)
        #expect(end == 70_000 && Array(buffer[0..<end]) == first + second)
        #expect(records.count == 0)
    }

    @Test func theRoomGivenInASwapIsUsedForTheNextRecords() {
        let records = OutboundRecords()
        var writer = [UInt8](repeating: 0, count: 64 * 1024)
        Self.add([1, 2, 3], to: records)
        #expect(records.swap(with: &writer) == 3)
        Self.add([4, 5], to: records)
        var next: [UInt8] = []
        #expect(records.swap(with: &next) == 2)
        #expect(Array(next[0..<2]) == [4, 5])
        #expect(next.count == 64 * 1024)  // the writer's old buffer came back, its room kept
    }

    @Test func takingCopiesAfterWhatTheBufferHoldsAndLeavesNothingWaiting() {
        let records = OutboundRecords()
        Self.add([7, 8, 9], to: records)
        var buffer: [UInt8] = [1, 2]
        #expect(records.take(into: &buffer, at: 2) == 5)
        #expect(buffer == [1, 2, 7, 8, 9])
        #expect(records.count == 0)
        var empty: [UInt8] = []
        #expect(records.take(into: &empty, at: 0) == 0 && empty.isEmpty)
    }
}
