import OSThreads

/// Runs attempts side by side and keeps the first that succeeds, as happy eyeballs does
/// (RFC 8305): each attempt after the first starts `stagger` seconds after the one before
/// it, or at once when an earlier one has failed. Winners that come in late are given
/// to `discard`. Throws the errors of all attempts when none succeeds.
public enum FirstOf {
    public struct AllFailed: Error, CustomStringConvertible {
        public let errors: [String]
        public var description: String { errors.joined(separator: "; ") }
    }

    public static func run<T: Sendable>(
        _ attempts: [@Sendable () throws -> T], stagger: Double = 0.25,
        discard: @escaping @Sendable (T) -> Void
    ) throws -> T {
        precondition(!attempts.isEmpty)
        let state = RaceState<T>()
        for (index, attempt) in attempts.enumerated() {
            if index > 0 {
                let done = state.monitor.withLock { () -> Bool in
                    let until = monotonicSeconds() + stagger
                    while state.winner == nil, !state.failedSinceLastStart, monotonicSeconds() < until {
                        state.monitor.wait(seconds: until - monotonicSeconds())
                    }
                    state.failedSinceLastStart = false
                    return state.winner != nil
                }
                if done { break }
            }
            let race: @Sendable () -> Void = {
                let result = Result { try attempt() }
                let late: T? = state.monitor.withLock {
                    defer {
                        state.finished += 1
                        state.monitor.broadcast()
                    }
                    switch result {
                    case .success(let value):
                        if state.winner == nil {
                            state.winner = value
                            return nil
                        }
                        return value
                    case .failure(let error):
                        state.errors.append("\(error)")
                        state.failedSinceLastStart = true
                        return nil
                    }
                }
                if let late { discard(late) }
            }
            do { try OSThread.detach(name: "path-race", race) } catch {
                state.monitor.withLock {
                    state.errors.append("\(error)")
                    state.failedSinceLastStart = true
                    state.finished += 1
                    state.monitor.broadcast()
                }
            }
        }
        return try state.monitor.withLock { () throws -> T in
            // Attempts were left unstarted above only when one had already won.
            while state.winner == nil, state.finished < attempts.count { state.monitor.wait() }
            if let winner = state.winner { return winner }
            throw AllFailed(errors: state.errors)
        }
    }
}

/// What the attempts of one race share, guarded by its monitor.
private final class RaceState<T>: @unchecked Sendable {
    let monitor = Monitor()
    var winner: T?
    var errors: [String] = []
    var finished = 0
    var failedSinceLastStart = false
}
