import Testing

@testable import Session

@Suite struct ChannelSchedulerTests {
    typealias Ready = ChannelScheduler.Ready

    /// Serves `count` frames from channels whose queues never change.
    private func order(_ ready: [Ready], count: Int) -> [UInt16] {
        var scheduler = ChannelScheduler()
        return (0..<count).compactMap { _ in scheduler.next(among: ready) }
    }

    @Test func backloggedChannelsTakeTurnsInIdOrder() {
        let ready = [
            Ready(id: 3, queuedBytes: 100_000, frameBytes: 16384),
            Ready(id: 1, queuedBytes: 100_000, frameBytes: 16384),
        ]
        #expect(order(ready, count: 4) == [1, 3, 1, 3])
    }

    @Test func aSparseChannelGoesBeforeABackloggedOneWhoseTurnItIs() {
        var scheduler = ChannelScheduler()
        let stick = Ready(id: 1, queuedBytes: 120 * 1024, frameBytes: 16384)
        #expect(scheduler.next(among: [stick]) == 1)
        // The keyboard's report arrives after channel 1 was served: channel 1 would be
        // next in turn (it is the only other), the keyboard goes first anyway.
        let keyboard = Ready(id: 2, queuedBytes: 56, frameBytes: 56)
        #expect(scheduler.next(among: [stick, keyboard]) == 2)
        #expect(scheduler.next(among: [stick]) == 1)
    }

    @Test func sparseChannelsTakeTurnsAmongThemselves() {
        let ready = [
            Ready(id: 5, queuedBytes: 56, frameBytes: 56), Ready(id: 9, queuedBytes: 300, frameBytes: 300),
            Ready(id: 7, queuedBytes: 9000, frameBytes: 9000),
        ]
        #expect(order(ready, count: 4) == [5, 9, 5, 9])
    }

    @Test func aBackloggedChannelIsServedAfterTheSparseRunLimit() {
        let ready = [
            Ready(id: 1, queuedBytes: 1000, frameBytes: 1000), Ready(id: 2, queuedBytes: 1 << 20, frameBytes: 1000),
        ]
        let served = order(ready, count: 100)
        // 1000-byte sparse frames: the backlogged channel gets a turn once 64 KiB of them went.
        let firstBacklogged = served.firstIndex(of: 2)
        #expect(firstBacklogged == ChannelScheduler.sparseRunLimit / 1000 + 1)
        #expect(served.filter { $0 == 1 }.count == served.count - 1)
    }

    @Test func aSparseChannelAloneNeverRunsUpAStarvationCount() {
        var scheduler = ChannelScheduler()
        for _ in 0..<1000 {
            _ = scheduler.next(among: [Ready(id: 4, queuedBytes: 56, frameBytes: 56)])
        }
        // A bulk channel that turns up now still waits behind a sparse one only until
        // the run limit counts from its arrival, so the keyboard's next report goes first.
        let both = [
            Ready(id: 4, queuedBytes: 56, frameBytes: 56), Ready(id: 6, queuedBytes: 1 << 20, frameBytes: 16384),
        ]
        #expect(scheduler.next(among: both) == 4)
    }

    @Test func turnOrderWrapsAroundTheIdSpace() {
        var scheduler = ChannelScheduler()
        let high = Ready(id: 65535, queuedBytes: 1 << 20, frameBytes: 1)
        let low = Ready(id: 2, queuedBytes: 1 << 20, frameBytes: 1)
        #expect(scheduler.next(among: [high]) == 65535)
        #expect(scheduler.next(among: [high, low]) == 2)
        #expect(scheduler.next(among: [high, low]) == 65535)
    }

    @Test func nothingReadyServesNothing() {
        var scheduler = ChannelScheduler()
        #expect(scheduler.next(among: [Ready]()) == nil)
    }
}
