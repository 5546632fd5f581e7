import ClientControl
import Synchronization
import Testing

/// The open `ui` views, on a clock the test moves.
@Suite struct ViewerCountTests {
    final class Clock: Sendable {
        let now = Mutex(1000.0)
        func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
    }

    func viewers() -> (ViewerCount, Clock) {
        let clock = Clock()
        return (ViewerCount(clock: { clock.now.withLock { $0 } }), clock)
    }

    @Test func aViewCountsFromItsOpeningToItsEndWhileItAsksEachSecond() {
        let (viewers, clock) = viewers()
        #expect(!viewers.isAny)
        viewers.opened()
        for _ in 0..<60 {
            clock.advance(1)
            viewers.heard()
            #expect(viewers.isAny)
        }
        viewers.closed()
        #expect(!viewers.isAny)
    }

    @Test func aViewKilledWithoutSayingSoStopsCountingAfterTheLease() {
        let (viewers, clock) = viewers()
        viewers.opened()
        clock.advance(ViewerCount.leaseSeconds - 1)
        #expect(viewers.isAny)
        clock.advance(1)
        #expect(!viewers.isAny)
    }

    @Test func aViewOpenedAfterTheSilenceCountsAloneAndItsEndEndsTheCount() {
        let (viewers, clock) = viewers()
        viewers.opened()  // killed: never done
        clock.advance(ViewerCount.leaseSeconds + 5)
        viewers.opened()
        #expect(viewers.isAny)
        viewers.closed()
        #expect(!viewers.isAny)
    }

    @Test func aViewHeardAgainAfterTheLeaseSaysItLapsedAndCountsAgain() {
        let (viewers, clock) = viewers()
        viewers.opened()
        clock.advance(1)
        #expect(!viewers.heard())
        clock.advance(ViewerCount.leaseSeconds + 30)  // suspended
        #expect(!viewers.isAny)
        #expect(viewers.heard())
        #expect(viewers.isAny)
        viewers.closed()
        #expect(!viewers.isAny)
    }

    @Test func twoLiveViewsCountUntilBothAreDone() {
        let (viewers, clock) = viewers()
        viewers.opened()
        clock.advance(1)
        viewers.opened()
        viewers.closed()
        #expect(viewers.isAny)
        viewers.closed()
        #expect(!viewers.isAny)
        viewers.closed()  // one too many: no negative count
        viewers.opened()
        #expect(viewers.isAny)
    }
}
