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
        #expect(window.decide(proofIsValid: true, from: "laptop") == .notOpen)
    }

    @Test func theRightProofIsAcceptedOnceAndClosesTheWindow() {
        let window = PairingWindow()
        window.open()
        #expect(window.decide(proofIsValid: true, from: "laptop") == .accepted)
        #expect(!window.isOpen)
        #expect(window.decide(proofIsValid: true, from: "laptop") == .notOpen)
    }

    @Test func theThirdWrongProofLocksOutThatPeerAloneAndTheWindowStaysOpen() {
        let window = PairingWindow()
        window.open()
        #expect(window.decide(proofIsValid: false, from: "stranger") == .wrongProof(triesLeft: 2))
        #expect(window.decide(proofIsValid: false, from: "stranger") == .wrongProof(triesLeft: 1))
        #expect(window.decide(proofIsValid: false, from: "stranger") == .tooManyWrongProofs)
        #expect(window.decide(proofIsValid: true, from: "stranger") == .tooManyWrongProofs)
        #expect(window.isOpen)
        #expect(window.decide(proofIsValid: true, from: "owner") == .accepted)
    }

    @Test func aWrongProofIsAnsweredAlikeWhetherTheWindowIsOpenOrNot() {
        let closed = PairingWindow()
        let open = PairingWindow()
        open.open()
        #expect(closed.decide(proofIsValid: false, from: "a") == open.decide(proofIsValid: false, from: "a"))
        #expect(closed.decide(proofIsValid: false, from: "a") == open.decide(proofIsValid: false, from: "a"))
        #expect(closed.decide(proofIsValid: false, from: "a") == open.decide(proofIsValid: false, from: "a"))
    }

    @Test func aFloodOfFreshKeysCannotGrowTheCountOrCloseTheWindow() {
        let window = PairingWindow()
        window.open()
        for i in 0..<10_000 { _ = window.decide(proofIsValid: false, from: "key\(i)") }
        #expect(window.isOpen)
        #expect(window.decide(proofIsValid: true, from: "owner") == .accepted)
    }

    @Test func reopeningStartsAFreshCountOfWrongTries() {
        let window = PairingWindow()
        window.open()
        _ = window.decide(proofIsValid: false, from: "laptop")
        _ = window.decide(proofIsValid: false, from: "laptop")
        window.open()
        #expect(window.decide(proofIsValid: false, from: "laptop") == .wrongProof(triesLeft: 2))
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
        #expect(window.decide(proofIsValid: true, from: "laptop") == .notOpen)
        #expect(events.withLock { $0 } == [true, false])
    }
}
