import GPIO
import Testing

@Suite struct LEDPatternTests {
    @Test func everyPatternDiffersInDutyCycleOrPeriod() {
        let signatures = LEDPattern.allCases.map { "\($0.dutyCycle)/\($0.periodMilliseconds)" }
        #expect(Set(signatures).count == LEDPattern.allCases.count)
    }

    @Test func patternsRepeatAndChangeWhenTheirStepsSay() {
        #expect(LEDPattern.pairing.isLit(at: 0))
        #expect(!LEDPattern.pairing.isLit(at: 125))
        #expect(LEDPattern.pairing.isLit(at: 250))
        #expect(LEDPattern.pairing.millisecondsUntilChange(after: 100) == 25)
        #expect(LEDPattern.online.isLit(at: 123_456))
        #expect(LEDPattern.online.millisecondsUntilChange(after: 0) == 1000)
    }

    @Test func theMostUrgentStateDecidesThePattern() {
        var state = ApplianceState()
        #expect(state.pattern == .starting)
        state.ready = true
        #expect(state.pattern == .noNetwork)
        state.online = true
        #expect(state.pattern == .online)
        state.attachedDevices = 1
        #expect(state.pattern == .attached)
        state.pairingOpen = true
        #expect(state.pattern == .pairing)
        state.holdingToClear = true
        #expect(state.pattern == .clearWarning)
        state.failure = "USB thread stalled"
        #expect(state.pattern == .error)
    }
}
