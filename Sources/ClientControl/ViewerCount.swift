import Synchronization

/// How many `usbp2p-client ui` views are open: while any is, the laptop's service keeps
/// every paired server connected (a server with nothing wished has no session otherwise).
///
/// A view says it opens (`--connect`), asks again every second, and says it is done; one
/// killed before it could say so would keep every session up for good, so views count
/// only while one was heard from within `leaseSeconds`, and a view that opens after that
/// silence starts the count afresh (the silent ones are gone: a live one asks every second).
public final class ViewerCount: Sendable {
    public static let leaseSeconds = 15.0

    private struct State {
        var open = 0
        var lastHeard = -Double.infinity
    }
    private let state = Mutex(State())
    private let clock: @Sendable () -> Double

    /// `clock`: seconds on a monotonic clock.
    public init(clock: @escaping @Sendable () -> Double) {
        self.clock = clock
    }

    public var isAny: Bool {
        let now = clock()
        return state.withLock { $0.open > 0 && now - $0.lastHeard < Self.leaseSeconds }
    }

    public func opened() {
        let now = clock()
        state.withLock {
            if now - $0.lastHeard >= Self.leaseSeconds { $0.open = 0 }
            $0.open += 1
            $0.lastHeard = now
        }
    }

    /// A view asked for what it shows. True when the views had fallen silent for the
    /// lease before (a view suspended, or on a laptop that slept): what they kept may have
    /// been let go, and the view counts again from now.
    @discardableResult
    public func heard() -> Bool {
        let now = clock()
        return state.withLock {
            let lapsed = now - $0.lastHeard >= Self.leaseSeconds
            if lapsed { $0.open = max($0.open, 1) }
            $0.lastHeard = now
            return lapsed
        }
    }

    public func closed() { state.withLock { $0.open = max(0, $0.open - 1) } }
}
