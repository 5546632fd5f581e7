import OSThreads
import Synchronization

/// When a server accepts pairing requests: for a while after its button is pressed (or
/// `usbp2pd pair --open`), and for at most `maxWrongProofs` wrong secrets; the window
/// closes after a pairing, after the last wrong try, or when its time is up.
public final class PairingWindow: Sendable {
    public static let maxWrongProofs = 3
    public static let defaultSeconds = 120.0

    /// What became of one pairing request.
    public enum Verdict: Equatable, Sendable {
        case accepted
        case notOpen
        /// A wrong proof; `triesLeft` more are allowed in this window.
        case wrongProof(triesLeft: Int)
        /// The last allowed wrong proof: the window is now closed.
        case tooManyWrongProofs
    }

    private struct State {
        var openUntil: Double?
        var wrongProofs = 0
    }

    private let state = Mutex(State())
    private let now: @Sendable () -> Double
    private let changed: @Sendable (Bool) -> Void

    /// - Parameter changed: told `true` when the window opens, `false` when it closes
    ///   (for the LED); called outside the lock.
    public init(
        now: @escaping @Sendable () -> Double = monotonicSeconds, changed: @escaping @Sendable (Bool) -> Void = { _ in }
    ) {
        self.now = now
        self.changed = changed
    }

    /// Opens the window for `seconds`, with a fresh count of wrong tries.
    public func open(seconds: Double = defaultSeconds) {
        let until = now() + seconds
        state.withLock { $0 = State(openUntil: until) }
        changed(true)
    }

    public func close() {
        let wasOpen = state.withLock { state in
            defer { state = State() }
            return state.openUntil != nil
        }
        if wasOpen { changed(false) }
    }

    /// Seconds left, or nil when closed (closing it if its time is up).
    public var remainingSeconds: Double? {
        let t = now()
        let (left, expired) = state.withLock { state -> (Double?, Bool) in
            guard let until = state.openUntil else { return (nil, false) }
            if until <= t {
                state = State()
                return (nil, true)
            }
            return (until - t, false)
        }
        if expired { changed(false) }
        return left
    }

    public var isOpen: Bool { remainingSeconds != nil }

    /// Decides on one request whose proof was (or was not) right.
    public func decide(proofIsValid: Bool) -> Verdict {
        guard isOpen else { return .notOpen }
        let verdict = state.withLock { state -> Verdict in
            guard state.openUntil != nil else { return .notOpen }
            if proofIsValid {
                state = State()
                return .accepted
            }
            state.wrongProofs += 1
            if state.wrongProofs >= Self.maxWrongProofs {
                state = State()
                return .tooManyWrongProofs
            }
            return .wrongProof(triesLeft: Self.maxWrongProofs - state.wrongProofs)
        }
        if verdict == .accepted || verdict == .tooManyWrongProofs { changed(false) }
        return verdict
    }
}
