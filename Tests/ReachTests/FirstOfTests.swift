import OSThreads
import Reach
import Synchronization
import TestSupport
import Testing

@Suite struct FirstOfTests {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    @Test func theFirstToSucceedWinsAndALateWinnerIsDiscarded() throws {
        let discarded = Observed<[String]>([])
        let slowMayFinish = Observed(false)
        let attempts: [@Sendable () throws -> String] = [
            {
                // Succeeds only once the other attempt has won.
                slowMayFinish.wait { $0 }
                return "slow"
            },
            { "fast" },
        ]
        let winner = try FirstOf.run(attempts, stagger: 0) { late in discarded.update { $0.append(late) } }
        #expect(winner == "fast")
        slowMayFinish.update { $0 = true }
        #expect(discarded.wait { !$0.isEmpty })
        #expect(discarded.current == ["slow"])
    }

    @Test func aFailureStartsTheNextAttemptWithoutWaitingForItsTurn() throws {
        let started = monotonicSeconds()
        let attempts: [@Sendable () throws -> String] = [{ throw Failure(description: "refused") }, { "second" }]
        let winner = try FirstOf.run(attempts, stagger: 10, discard: { _ in })
        #expect(winner == "second")
        #expect(monotonicSeconds() - started < 5)
    }

    @Test func aLaterAttemptIsNotStartedWhenAnEarlierOneWinsWithinTheStagger() throws {
        let ran = Atomic<Int>(0)
        let attempts: [@Sendable () throws -> Int] = [
            {
                ran.add(1, ordering: .relaxed)
                return 1
            },
            {
                ran.add(1, ordering: .relaxed)
                return 2
            },
        ]
        let winner = try FirstOf.run(attempts, stagger: 2, discard: { _ in })
        #expect(winner == 1)
        let runs = ran.load(ordering: .relaxed)
        #expect(runs == 1)
    }

    @Test func whenAllFailEveryErrorIsReported() {
        let attempts: [@Sendable () throws -> Int] = [
            { throw Failure(description: "one") }, { throw Failure(description: "two") },
        ]
        #expect {
            _ = try FirstOf.run(attempts, stagger: 0, discard: { _ in })
        } throws: { error in
            guard let failed = error as? FirstOf.AllFailed else { return false }
            return failed.errors.sorted() == ["one", "two"]
        }
    }
}
