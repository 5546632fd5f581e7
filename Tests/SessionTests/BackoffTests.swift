import Testing

@testable import Session

@Suite struct BackoffTests {
    @Test func delaysDoubleUpToTheCapWithJitterInTheUpperHalf() {
        var low = Backoff(initial: 0.25, cap: 8, random: { 0 })
        #expect((0..<8).map { _ in low.next() } == [0.125, 0.25, 0.5, 1, 2, 4, 4, 4])
        var high = Backoff(initial: 0.25, cap: 8, random: { 0.999999 })
        #expect(high.next() < 0.25)
        for _ in 0..<40 { #expect(high.next() <= 8) }
    }

    @Test func resetStartsSmallAgain() {
        var backoff = Backoff(initial: 1, cap: 60, random: { 0 })
        for _ in 0..<10 { _ = backoff.next() }
        backoff.reset()
        #expect(backoff.next() == 0.5)
    }
}
