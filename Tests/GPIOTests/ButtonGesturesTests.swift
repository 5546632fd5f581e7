import GPIO
import Testing

@Suite struct ButtonGesturesTests {
    /// Feeds edges (time, active) and ticks every 10 ms up to `until`; returns the gestures.
    func run(_ edges: [(Double, Bool)], until end: Double) -> [ButtonGestures.Gesture] {
        var button = ButtonGestures()
        var out: [ButtonGestures.Gesture] = []
        var pending = edges[...]
        var t = 0.0
        while t <= end {
            while let next = pending.first, next.0 <= t {
                out += button.edge(active: next.1, at: next.0)
                pending = pending.dropFirst()
            }
            out += button.tick(at: t)
            t += 0.01
        }
        return out
    }

    @Test func aPressAndReleaseIsOneShortPress() {
        #expect(run([(1.0, true), (1.3, false)], until: 2) == [.shortPress])
    }

    @Test func bouncingContactsCountAsOnePress() {
        // Several edges a few milliseconds apart at both ends of one press.
        let press: [(Double, Bool)] = [
            (1.000, true), (1.002, false), (1.003, true), (1.005, false), (1.006, true),
            (1.400, false), (1.401, true), (1.403, false), (1.404, true), (1.406, false),
        ]
        #expect(run(press, until: 2) == [.shortPress])
    }

    @Test func aGlitchShorterThanTheDebounceIsNoPress() {
        #expect(run([(1.0, true), (1.004, false)], until: 2).isEmpty)
    }

    @Test func holdingWarnsAt3sAndLongPressesAt10sOnce() {
        #expect(run([(1.0, true), (12.0, false)], until: 13) == [.holding, .longPress])
    }

    @Test func releasingAfterTheWarningButBefore10sCancels() {
        #expect(run([(1.0, true), (6.0, false)], until: 7) == [.holding, .cancelled])
    }

    @Test func theNextDeadlineIsWhenTheLevelSettlesOrAHeldPressNextMatters() {
        var button = ButtonGestures()
        #expect(button.nextDeadline(after: 0) == nil)
        _ = button.edge(active: true, at: 1.0)
        #expect(button.nextDeadline(after: 1.0) == 1.03)
        _ = button.tick(at: 1.05)
        #expect(button.nextDeadline(after: 1.05) == 4.0)
    }
}
