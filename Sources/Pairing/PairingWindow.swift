import OSThreads
import Synchronization

/// When a server accepts pairing requests: for a while after its button is pressed (or
/// `usbp2pd pair --open`); the window closes after a pairing or when its time is up.
///
/// Wrong secrets are counted per peer (the laptop's EndpointId), not for the window: a
/// stranger's wrong tries lock only the stranger out until the window is opened again,
/// never the owner standing at the button. The secret's 80 bits, not the count, are what
/// stop guessing (docs/threat-model.md). Wrong proofs are answered the same whether the
/// window is open or not, so only someone who holds the secret learns that it is open.
public final class PairingWindow: Sendable {
    public static let maxWrongProofs = 3
    public static let defaultSeconds = 120.0
    /// Peers whose wrong tries are counted at once; beyond it new peers are not counted
    /// (each still needs the secret), so a flood of fresh keys cannot grow the table.
    static let maxCountedPeers = 256

    /// What became of one pairing request.
    public enum Verdict: Equatable, Sendable {
        case accepted
        /// The right secret, but the window is closed.
        case notOpen
        /// A wrong proof; this peer may try `triesLeft` more times.
        case wrongProof(triesLeft: Int)
        /// This peer's last allowed wrong proof (or a try after it): refused until the
        /// window is opened again.
        case tooManyWrongProofs
    }

    private struct State {
        var openUntil: Double?
        var wrongProofs: [String: Int] = [:]
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

    /// Opens the window for `seconds`, with a fresh count of wrong tries for everyone.
    public func open(seconds: Double = defaultSeconds) {
        let until = now() + seconds
        state.withLock { $0 = State(openUntil: until) }
        changed(true)
    }

    public func close() {
        let wasOpen = state.withLock { state in
            defer { state.openUntil = nil }
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
                state.openUntil = nil
                return (nil, true)
            }
            return (until - t, false)
        }
        if expired { changed(false) }
        return left
    }

    public var isOpen: Bool { remainingSeconds != nil }

    /// Decides on one request from `peer` whose proof was (or was not) right.
    public func decide(proofIsValid: Bool, from peer: String) -> Verdict {
        let open = isOpen
        let verdict = state.withLock { state -> Verdict in
            let wrong = state.wrongProofs[peer, default: 0]
            if wrong >= Self.maxWrongProofs { return .tooManyWrongProofs }
            if proofIsValid {
                guard open, state.openUntil != nil else { return .notOpen }
                state = State()
                return .accepted
            }
            guard state.wrongProofs[peer] != nil || state.wrongProofs.count < Self.maxCountedPeers else {
                return .wrongProof(triesLeft: Self.maxWrongProofs - 1)
            }
            state.wrongProofs[peer] = wrong + 1
            return wrong + 1 >= Self.maxWrongProofs
                ? .tooManyWrongProofs : .wrongProof(triesLeft: Self.maxWrongProofs - wrong - 1)
        }
        if verdict == .accepted { changed(false) }
        return verdict
    }
}
