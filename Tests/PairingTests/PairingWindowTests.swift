import Synchronization
import Testing

@testable import Pairing

@Suite struct PairingWindowTests {
    final class Clock: Sendable {
        let time = Mutex(1000.0)
        func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
        var now: Double { time.withLock { $0 } }
    }

    @Test func aClosedWindowRefusesEvenTheRightProof() {
        let window = PairingWindow()
        #expect(window.decide(proofIsValid: true) == .notOpen)
    }

    @Test func theRightProofIsAcceptedOnceAndClosesTheWindow() {
        let window = PairingWindow()
        window.open()
        #expect(window.decide(proofIsValid: true) == .accepted)
        #expect(!window.isOpen)
        #expect(window.decide(proofIsValid: true) == .notOpen)
    }

    @Test func theThirdWrongProofClosesTheWindowAndAFourthTryIsRefused() {
        let window = PairingWindow()
        window.open()
        #expect(window.decide(proofIsValid: false) == .wrongProof(triesLeft: 2))
        #expect(window.decide(proofIsValid: false) == .wrongProof(triesLeft: 1))
        #expect(window.decide(proofIsValid: false) == .tooManyWrongProofs)
        #expect(window.decide(proofIsValid: true) == .notOpen)
    }

    @Test func reopeningStartsAFreshCountOfWrongTries() {
        let window = PairingWindow()
        window.open()
        _ = window.decide(proofIsValid: false)
        _ = window.decide(proofIsValid: false)
        window.open()
        #expect(window.decide(proofIsValid: false) == .wrongProof(triesLeft: 2))
    }

    @Test func theWindowClosesWhenItsTimeIsUpAndSaysSo() {
        let clock = Clock()
        let events = Mutex<[Bool]>([])
        let window = PairingWindow(now: { clock.now }, changed: { open in events.withLock { $0.append(open) } })
        window.open(seconds: 120)
        clock.advance(119)
        #expect(window.isOpen)
        clock.advance(2)
        #expect(!window.isOpen)
        #expect(window.decide(proofIsValid: true) == .notOpen)
        #expect(events.withLock { $0 } == [true, false])
    }
}
