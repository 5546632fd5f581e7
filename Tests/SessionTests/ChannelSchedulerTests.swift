import Testing

@testable import Session

@Suite struct ChannelSchedulerTests {
    typealias Ready = ChannelScheduler.Ready

    /// Serves `count` frames of `frameBytes` each from channels whose queues never change.
    private func order(_ ready: [Ready], count: Int, frameBytes: Int = 16 * 1024) -> [UInt16] {
        var scheduler = ChannelScheduler()
        return (0..<count).compactMap { _ in scheduler.next(among: ready, frameBytes: { _ in frameBytes }) }
    }

    @Test func backloggedChannelsTakeTurnsInIdOrder() {
        let ready = [Ready(id: 3, queuedBytes: 100_000), Ready(id: 1, queuedBytes: 100_000)]
        #expect(order(ready, count: 4) == [1, 3, 1, 3])
    }

    @Test func aSparseChannelGoesBeforeABackloggedOneWhoseTurnItIs() {
        var scheduler = ChannelScheduler()
        let stick = Ready(id: 1, queuedBytes: 120 * 1024)
        #expect(scheduler.next(among: [stick], frameBytes: { _ in 16 * 1024 }) == 1)
        // The keyboard's report arrives after channel 1 was served: channel 1 would be
        // next in turn (it is the only other), the keyboard goes first anyway.
        let keyboard = Ready(id: 2, queuedBytes: 56)
        #expect(scheduler.next(among: [stick, keyboard], frameBytes: { _ in 56 }) == 2)
        #expect(scheduler.next(among: [stick], frameBytes: { _ in 16 * 1024 }) == 1)
    }

    @Test func sparseChannelsTakeTurnsAmongThemselves() {
        let ready = [Ready(id: 5, queuedBytes: 56), Ready(id: 9, queuedBytes: 300), Ready(id: 7, queuedBytes: 9000)]
        #expect(order(ready, count: 4, frameBytes: 56) == [5, 9, 5, 9])
    }

    @Test func aBackloggedChannelIsServedAfterTheSparseRunLimit() {
        let ready = [Ready(id: 1, queuedBytes: 1000), Ready(id: 2, queuedBytes: 1 << 20)]
        let served = order(ready, count: 100, frameBytes: 1000)
        // 1000-byte sparse frames: the backlogged channel gets a turn once 64 KiB of them went.
        let firstBacklogged = served.firstIndex(of: 2)
        #expect(firstBacklogged == ChannelScheduler.sparseRunLimit / 1000 + 1)
        #expect(served.filter { $0 == 1 }.count == served.count - 1)
    }

    @Test func aSparseChannelAloneNeverRunsUpAStarvationCount() {
        var scheduler = ChannelScheduler()
        for _ in 0..<1000 {
            _ = scheduler.next(among: [Ready(id: 4, queuedBytes: 56)], frameBytes: { _ in 56 })
        }
        // A bulk channel that turns up now still waits behind a sparse one only until
        // the run limit counts from its arrival, so the keyboard's next report goes first.
        let both = [Ready(id: 4, queuedBytes: 56), Ready(id: 6, queuedBytes: 1 << 20)]
        #expect(scheduler.next(among: both, frameBytes: { _ in 56 }) == 4)
    }

    @Test func turnOrderWrapsAroundTheIdSpace() {
        var scheduler = ChannelScheduler()
        let high = Ready(id: 65535, queuedBytes: 1 << 20)
        let low = Ready(id: 2, queuedBytes: 1 << 20)
        #expect(scheduler.next(among: [high], frameBytes: { _ in 1 }) == 65535)
        #expect(scheduler.next(among: [high, low], frameBytes: { _ in 1 }) == 2)
        #expect(scheduler.next(among: [high, low], frameBytes: { _ in 1 }) == 65535)
    }

    @Test func nothingReadyServesNothing() {
        var scheduler = ChannelScheduler()
        #expect(scheduler.next(among: [Ready](), frameBytes: { _ in 0 }) == nil)
    }
}
