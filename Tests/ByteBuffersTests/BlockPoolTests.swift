import ByteBuffers
import Synchronization
import Testing

/// A source on the heap that records what it was asked, and can be told to refuse.
private final class RecordingSource: BlockSource {
    struct Log {
        var taken: [Int] = []
        var given: [Int] = []
        var closedCount = 0
        var refuse = false
    }
    let log = Mutex(Log())

    func take(_ count: Int) -> UnsafeMutableRawPointer? {
        let refuse = log.withLock { log in
            if !log.refuse { log.taken.append(count) }
            return log.refuse
        }
        return refuse ? nil : UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 16)
    }

    func give(_ pointer: UnsafeMutableRawPointer, _ count: Int) {
        pointer.deallocate()
        log.withLock { $0.given.append(count) }
    }

    func closed() { log.withLock { $0.closedCount += 1 } }

    var snapshot: Log { log.withLock { $0 } }
}

@Suite struct BlockPoolTests {
    @Test func aBlockThatComesBackIsLentAgainWithoutAskingTheSource() {
        let source = RecordingSource()
        let pool = BlockPool(source: source, budget: 1 << 20, granule: 4096)
        var first: FixedBytes? = pool.lend(65_536)
        let address = first?.unsafeStorage.baseAddress
        #expect(first?.count == 65_536)
        first = nil
        let second = pool.lend(65_536)
        #expect(second?.unsafeStorage.baseAddress == address)
        #expect(source.snapshot.taken == [65_536])
        #expect(pool.counts.lent == 1 && pool.counts.heldBytes == 65_536)
    }

    @Test func sizesAreRoundedUpToTheGranuleSoNearSizesShareBlocks() {
        let source = RecordingSource()
        let pool = BlockPool(source: source, budget: 1 << 20, granule: 4096)
        var block = pool.lend(15_872)
        #expect(block?.count == 16_384)
        block = nil
        block = pool.lend(16_000)
        #expect(source.snapshot.taken == [16_384])
        _ = block
    }

    @Test func theBudgetBoundsWhatIsHeldAndBeyondItTheCallerGetsNil() {
        let source = RecordingSource()
        let pool = BlockPool(source: source, budget: 3 * 4096, granule: 4096)
        let held = (0..<3).compactMap { _ in pool.lend(4096) }
        #expect(held.count == 3)
        #expect(pool.lend(4096) == nil)
        #expect(pool.lend(4 * 4096) == nil)
        #expect(source.snapshot.taken == [4096, 4096, 4096])
    }

    @Test func keptBlocksOfAnotherSizeAreGivenBackToMakeRoomForANewSize() {
        let source = RecordingSource()
        let pool = BlockPool(source: source, budget: 2 * 4096, granule: 4096)
        var small = [pool.lend(4096), pool.lend(4096)]
        small.removeAll()
        let large = pool.lend(2 * 4096)
        #expect(large != nil)
        #expect(source.snapshot.given == [4096, 4096])
        #expect(pool.counts.heldBytes == 2 * 4096)
    }

    @Test func aSourceThatRefusesOnceIsNotAskedAgain() {
        let source = RecordingSource()
        let pool = BlockPool(source: source, budget: 1 << 20, granule: 4096)
        source.log.withLock { $0.refuse = true }
        #expect(pool.lend(4096) == nil)
        source.log.withLock { $0.refuse = false }
        #expect(pool.lend(4096) == nil)
        #expect(source.snapshot.taken.isEmpty)
        #expect(pool.counts.lent == 0 && pool.counts.heldBytes == 0)
    }

    @Test func closingGivesBackKeptBlocksAndTellsTheSourceOnlyAfterTheLastLentBlockReturns() {
        let source = RecordingSource()
        let pool = BlockPool(source: source, budget: 1 << 20, granule: 4096)
        var lent: FixedBytes? = pool.lend(8192)
        var kept: FixedBytes? = pool.lend(4096)
        kept = nil
        pool.close()
        #expect(source.snapshot.given == [4096])
        #expect(source.snapshot.closedCount == 0)
        #expect(pool.lend(4096) == nil)
        // A slice keeps the block, as a reply still being written would.
        var slice: FixedBytes.Slice? = lent?.slice(0..<10)
        lent = nil
        #expect(slice?.count == 10)
        #expect(source.snapshot.closedCount == 0)
        slice = nil
        #expect(source.snapshot.closedCount == 1)
        #expect(source.snapshot.given == [4096, 8192])
        #expect(slice == nil && kept == nil)
    }

    @Test func closingWithNothingLentTellsTheSourceAtOnceAndOnlyOnce() {
        let source = RecordingSource()
        let pool = BlockPool(source: source, budget: 1 << 20, granule: 4096)
        pool.close()
        pool.close()
        #expect(source.snapshot.closedCount == 1)
    }

    @Test func theLastLentBlockComingBackAfterCloseClosesTheSource() {
        let source = RecordingSource()
        let pool = BlockPool(source: source, budget: 1 << 20, granule: 4096)
        var lent: FixedBytes? = pool.lend(4096)
        pool.close()
        #expect(source.snapshot.closedCount == 0)
        lent = nil
        #expect(source.snapshot.closedCount == 1)
        #expect(source.snapshot.given == [4096])
        #expect(pool.counts.lent == 0 && pool.counts.heldBytes == 0)
        _ = lent
    }

    @Test func requestsOfNothingOrBeyondTheBudgetGetNil() {
        let pool = BlockPool(source: RecordingSource(), budget: 8192, granule: 4096)
        #expect(pool.lend(0) == nil)
        #expect(pool.lend(-5) == nil)
        #expect(pool.lend(8193) == nil)
    }
}
