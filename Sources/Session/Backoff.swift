/// Delays between reconnection attempts: exponential, capped, with full jitter so that
/// many clients that lost the same relay do not come back in step.
public struct Backoff: Sendable {
    /// The first delay's upper bound.
    public var initial: Double
    /// No delay is longer.
    public var cap: Double
    private var attempt = 0
    private var random: @Sendable () -> Double

    public init(
        initial: Double = 0.25, cap: Double = 8, random: @escaping @Sendable () -> Double = { .random(in: 0..<1) }
    ) {
        precondition(initial > 0 && cap >= initial)
        self.initial = initial
        self.cap = cap
        self.random = random
    }

    /// The delay before the next attempt: uniform in [bound/2, bound], bound doubling per
    /// attempt up to the cap (half the bound is kept so retries never spin).
    public mutating func next() -> Double {
        let bound = min(cap, initial * Double(1 << min(attempt, 30)))
        attempt += 1
        return bound / 2 + bound / 2 * random()
    }

    /// After a success: start small again.
    public mutating func reset() { attempt = 0 }
}
