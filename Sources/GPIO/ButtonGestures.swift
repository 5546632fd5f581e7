/// Turns a button's raw edges into what a person meant: a short press, holding it (a
/// warning from 3 s), a long press (10 s). Bounces are ignored: the level must stay put
/// for `debounce` seconds before it counts, and a press must last `minimumPress`.
/// Times are seconds on one monotonic clock (the kernel's edge timestamps).
public struct ButtonGestures: Sendable {
    public enum Gesture: Equatable, Sendable {
        /// Pressed and released within `warningAfter` seconds.
        case shortPress
        /// Still held after `warningAfter` seconds: a long press is coming.
        case holding
        /// Held for `longPressAfter` seconds (reported once, while still held).
        case longPress
        /// Released after `holding` but before the long press: nothing happens.
        case cancelled
    }

    public let debounce: Double
    public let minimumPress: Double
    public let warningAfter: Double
    public let longPressAfter: Double

    /// The last raw level and when it changed.
    private var raw = false
    private var rawSince = -Double.infinity
    /// The level after debouncing, and when that press began.
    private var pressed = false
    private var pressedAt = 0.0
    private var warned = false
    private var longPressed = false

    public init(
        debounce: Double = 0.03, minimumPress: Double = 0.05, warningAfter: Double = 3, longPressAfter: Double = 10
    ) {
        self.debounce = debounce
        self.minimumPress = minimumPress
        self.warningAfter = warningAfter
        self.longPressAfter = longPressAfter
    }

    /// A raw edge: the line became active (pressed) or not, at `time`.
    public mutating func edge(active: Bool, at time: Double) -> [Gesture] {
        var out = settle(at: time)
        if active != raw {
            raw = active
            rawSince = time
        }
        out += settle(at: time)
        return out
    }

    /// Time passing with no edge (call at least every `nextDeadline`).
    public mutating func tick(at time: Double) -> [Gesture] { settle(at: time) }

    /// When the next tick is worth making: while a level settles or a press is held.
    public func nextDeadline(after time: Double) -> Double? {
        if raw != pressed { return rawSince + debounce }
        guard pressed, !longPressed else { return nil }
        return pressedAt + (warned ? longPressAfter : warningAfter)
    }

    private mutating func settle(at time: Double) -> [Gesture] {
        var out: [Gesture] = []
        if raw != pressed, time - rawSince >= debounce {
            if raw {
                pressed = true
                // The press began at the edge, not when it settled.
                pressedAt = rawSince
                warned = false
                longPressed = false
            } else {
                pressed = false
                let held = rawSince - pressedAt
                if longPressed {
                    // Reported already.
                } else if warned {
                    out.append(.cancelled)
                } else if held >= minimumPress {
                    out.append(.shortPress)
                }
            }
        }
        if pressed, !longPressed {
            let held = time - pressedAt
            if !warned, held >= warningAfter {
                warned = true
                out.append(.holding)
            }
            if held >= longPressAfter {
                longPressed = true
                out.append(.longPress)
            }
        }
        return out
    }
}
