import Synchronization
import Testing

@testable import Log

private final class Clock: Sendable {
    let now = Mutex<Double>(0)
    func read() -> Double { now.withLock { $0 } }
}

private final class Counter: Sendable {
    let made = Atomic<Int>(0)
    func message(_ text: String) -> String {
        made.add(1, ordering: .relaxed)
        return text
    }
}

@Suite struct LogRateLimitTests {
    @Test func aFloodLogsItsBurstThenNothingUntilTheNextInterval() {
        let clock = Clock()
        let limit = LogRateLimit(burst: 3, interval: 60, clock: clock.read)
        let logger = Logger(label: "test", level: .critical)  // the allowed lines go to stderr
        let counter = Counter()
        for _ in 0..<1000 { limit.log(logger, .critical, kind: "refused", counter.message("refused")) }
        // Only the allowed lines were even formatted (the message is an autoclosure).
        #expect(counter.made.load(ordering: .relaxed) == 3)
        clock.now.withLock { $0 = 61 }
        limit.log(logger, .critical, kind: "refused", counter.message("refused"))
        #expect(counter.made.load(ordering: .relaxed) == 4)
    }

    @Test func kindsHaveBurstsOfTheirOwn() {
        let clock = Clock()
        let limit = LogRateLimit(burst: 1, interval: 60, clock: clock.read)
        let logger = Logger(label: "test", level: .critical)
        let counter = Counter()
        for _ in 0..<10 {
            limit.log(logger, .critical, kind: "a", counter.message("a"))
            limit.log(logger, .critical, kind: "b", counter.message("b"))
        }
        #expect(counter.made.load(ordering: .relaxed) == 2)
    }
}
