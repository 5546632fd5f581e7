import Testing

@testable import Session

@Suite struct FramePayloadPoolTests {
    @Test func storageTakenHasRoomForTheCountRoundedUpToASizeClass() {
        var pool = FramePayloadPool()
        #expect(pool.take(capacity: 1).bytes.capacity >= 64)
        #expect(pool.take(capacity: 600).bytes.capacity >= 1024)
        #expect(pool.take(capacity: SessionFrame.maxPayload).bytes.capacity >= SessionFrame.maxPayload)
        #expect(pool.take(capacity: 100_000).bytes.capacity >= 100_000)
        #expect(pool.freeBytes == 0)
    }

    @Test func storageGivenBackIsTakenAgainForTheSameSize() {
        var pool = FramePayloadPool()
        var storage = pool.take(capacity: 560)
        let kept = ObjectIdentifier(storage)
        storage.bytes.append(contentsOf: [UInt8](repeating: 7, count: 560))
        pool.giveBack(&storage)
        #expect(pool.freeBytes == storage.bytes.capacity)
        storage = pool.take(capacity: 48)  // another size class: not that one
        #expect(ObjectIdentifier(storage) != kept)
        let again = pool.take(capacity: 1000)
        #expect(ObjectIdentifier(again) == kept)
        #expect(pool.freeBytes == 0)
    }

    @Test func storageSomeoneStillHoldsIsNotKept() {
        var pool = FramePayloadPool()
        var storage = pool.take(capacity: 100)
        let frameStillHoldsIt = storage
        pool.giveBack(&storage)
        #expect(pool.freeBytes == 0)
        _ = frameStillHoldsIt
    }

    @Test func theFreeListsHoldNoMoreThanTheirBoundInBytes() {
        var pool = FramePayloadPool(maxBytes: 40 * 1024)
        var taken = (0..<5).map { _ in pool.take(capacity: SessionFrame.maxPayload) }
        for index in taken.indices { pool.giveBack(&taken[index]) }
        #expect(pool.freeBytes > 0)
        #expect(pool.freeBytes <= 40 * 1024)
    }

    @Test func storageLargerThanTwiceAFrameIsNeverKept() {
        var pool = FramePayloadPool()
        var large = pool.take(capacity: 64 * 1024 + 48)
        pool.giveBack(&large)
        #expect(pool.freeBytes == 0)
    }
}
