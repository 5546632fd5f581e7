import OSThreads

/// A value that other threads change and a test waits on: every change wakes the
/// waiters, so a test waits for the event itself, never for a guessed time. The
/// deadline of `wait` only keeps a broken build from hanging the suite.
public final class Observed<Value>: @unchecked Sendable {
    private let monitor = Monitor()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    /// Changes the value and wakes every waiter.
    public func update(_ change: (inout Value) -> Void) {
        monitor.withLock {
            change(&value)
            monitor.broadcast()
        }
    }

    public var current: Value { monitor.withLock { value } }

    /// Waits until `condition` holds for the value; false when `seconds` passed first.
    @discardableResult
    public func wait(seconds: Double = 60, until condition: (Value) -> Bool) -> Bool {
        monitor.withLock { monitor.wait(until: monotonicSeconds() + seconds) { condition(value) } }
    }
}

extension Observed where Value == Int {
    /// Counts one more event.
    public func increment() { update { $0 += 1 } }
}
