/// Deadlines on whole exchanges (a TLS handshake, a registration, an op phase) rather
/// than on each read: a peer that trickles a byte now and then still runs out of time.
/// One thread serves every deadline of its owner, so a thousand pending handshakes cost
/// a thousand small entries, not a thousand timers. The owner's last reference going
/// away stops and joins that thread.
///
/// When a deadline passes its action runs on that thread (it must be quick: shutting a
/// socket down, which wakes whoever blocks on it); an exchange that finishes in time
/// cancels its deadline first.
public final class Deadlines: Sendable {
    private let state: State
    private let thread: OSThread

    /// `clock` gives monotonic seconds (injected by tests).
    public init(name: String, clock: @escaping @Sendable () -> Double = monotonicSeconds) throws(ThreadStartError) {
        let state = State(clock: clock)
        self.state = state
        thread = try OSThread.start(name: name) { state.run() }
    }

    deinit {
        state.stop()
        thread.join()
    }

    /// A scheduled deadline, to cancel when the exchange is over.
    public struct Token: Hashable, Sendable { let id: UInt64 }

    /// Runs `expire` once `seconds` have passed, unless cancelled before.
    public func schedule(after seconds: Double, _ expire: @escaping @Sendable () -> Void) -> Token {
        state.schedule(after: seconds, expire)
    }

    /// The exchange ended in time; true if its action had not run.
    @discardableResult
    public func cancel(_ token: Token) -> Bool {
        state.monitor.withLock { state.entries.removeValue(forKey: token.id) != nil }
    }

    /// Deadlines not yet passed nor cancelled.
    public var pending: Int { state.monitor.withLock { state.entries.count } }

    /// Wakes the thread to look at the clock again (for tests with an injected clock).
    public func checkNow() { state.monitor.withLock { state.monitor.broadcast() } }

    private final class State: @unchecked Sendable {
        let monitor = Monitor()
        var entries: [UInt64: (at: Double, expire: @Sendable () -> Void)] = [:]
        private var nextToken: UInt64 = 0
        private var stopped = false
        private let clock: @Sendable () -> Double

        init(clock: @escaping @Sendable () -> Double) { self.clock = clock }

        func schedule(after seconds: Double, _ expire: @escaping @Sendable () -> Void) -> Token {
            monitor.withLock {
                nextToken += 1
                entries[nextToken] = (clock() + seconds, expire)
                monitor.broadcast()
                return Token(id: nextToken)
            }
        }

        func stop() {
            monitor.withLock {
                stopped = true
                monitor.broadcast()
            }
        }

        func run() {
            while true {
                let due: [@Sendable () -> Void]? = monitor.withLock {
                    while !stopped {
                        let now = clock()
                        let expired = entries.filter { $0.value.at <= now }
                        if !expired.isEmpty {
                            for key in expired.keys { entries.removeValue(forKey: key) }
                            return expired.values.map(\.expire)
                        }
                        // An injected clock does not move by itself: `checkNow` wakes us.
                        monitor.wait(seconds: entries.values.map(\.at).min().map { $0 - now })
                    }
                    return nil
                }
                guard let due else { return }
                for expire in due { expire() }
            }
        }
    }
}
