import OSThreads
import Synchronization
import Testing

/// A clock the test moves by hand.
private final class ManualClock: Sendable {
    private let now = Mutex<Double>(100)
    func read() -> Double { now.withLock { $0 } }
    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
}

/// What expired, in order, with a signal for each.
private final class Expiries: Sendable {
    let monitor = Monitor()
    private let names = Mutex<[String]>([])
    func record(_ name: String) {
        monitor.withLock {
            names.withLock { $0.append(name) }
            monitor.broadcast()
        }
    }
    /// Waits (event-based, with a generous bound against a hang) until `count` expired.
    func wait(for count: Int) -> [String] {
        monitor.withLock {
            monitor.wait(until: monotonicSeconds() + 30) { names.withLock { $0.count } >= count }
            return names.withLock { $0 }
        }
    }
    var all: [String] { names.withLock { $0 } }
}

@Suite struct DeadlinesTests {
    @Test func aDeadlineRunsItsActionOnceItsTimeHasPassed() throws {
        let clock = ManualClock()
        let deadlines = try Deadlines(name: "test", clock: clock.read)
        let expiries = Expiries()
        _ = deadlines.schedule(after: 10) { expiries.record("handshake") }
        clock.advance(9)
        deadlines.checkNow()
        #expect(deadlines.pending == 1)
        clock.advance(1)
        deadlines.checkNow()
        #expect(expiries.wait(for: 1) == ["handshake"])
        #expect(deadlines.pending == 0)
    }

    @Test func aCancelledDeadlineNeverRuns() throws {
        let clock = ManualClock()
        let deadlines = try Deadlines(name: "test", clock: clock.read)
        let expiries = Expiries()
        let early = deadlines.schedule(after: 5) { expiries.record("early") }
        _ = deadlines.schedule(after: 6) { expiries.record("late") }
        #expect(deadlines.cancel(early))
        clock.advance(60)
        deadlines.checkNow()
        #expect(expiries.wait(for: 1) == ["late"])
        #expect(!deadlines.cancel(early))
    }

    @Test func cancellingAfterTheActionRanSaysSo() throws {
        let clock = ManualClock()
        let deadlines = try Deadlines(name: "test", clock: clock.read)
        let expiries = Expiries()
        let token = deadlines.schedule(after: 1) { expiries.record("ran") }
        clock.advance(2)
        deadlines.checkNow()
        _ = expiries.wait(for: 1)
        #expect(!deadlines.cancel(token))
    }

    @Test func aThousandPendingDeadlinesShareOneThread() throws {
        let clock = ManualClock()
        let deadlines = try Deadlines(name: "test", clock: clock.read)
        let expiries = Expiries()
        for i in 0..<1000 { _ = deadlines.schedule(after: Double(i % 10 + 1)) { expiries.record("\(i)") } }
        #expect(deadlines.pending == 1000)
        clock.advance(10)
        deadlines.checkNow()
        #expect(expiries.wait(for: 1000).count == 1000)
        #expect(deadlines.pending == 0)
    }
}
