import FileSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Whether a service's listeners can still be kept, for its watchdog. An accept loop
/// serves on through a shortage (AcceptLoop), but one that has failed without a break
/// for `patience` seconds, or a listener whose loop could not be started, is lost:
/// the service then stops reassuring systemd, which restarts it with fresh descriptors
/// rather than leave a port open that answers nobody while everything looks healthy.
public final class ListenerWatch: Sendable {
    /// A shortage this long is not passing.
    public static let defaultPatienceSeconds = 60.0

    private struct Trouble {
        var since: Double
        var reason: String
    }

    private let troubles = Mutex<[String: Trouble]>([:])
    private let patience: Double
    private let clock: @Sendable () -> Double

    public init(
        patience: Double = defaultPatienceSeconds, clock: @escaping @Sendable () -> Double = ListenerWatch.monotonic
    ) {
        self.patience = patience
        self.clock = clock
    }

    /// Accepting on `listener` fails (the first error of a run of failures).
    public func failing(_ listener: String, _ error: SystemError) {
        let now = clock()
        troubles.withLock { all in
            if all[listener] == nil { all[listener] = Trouble(since: now, reason: "\(error)") }
        }
    }

    /// Accepting on `listener` works again.
    public func recovered(_ listener: String) { _ = troubles.withLock { $0.removeValue(forKey: listener) } }

    /// Nothing accepts on `listener` (its thread could not start): lost at once.
    public func notServed(_ listener: String, _ reason: String) {
        troubles.withLock { $0[listener] = Trouble(since: -.infinity, reason: reason) }
    }

    /// The listeners that cannot be kept, each with what went wrong; empty when all serve.
    public func lost() -> [String] {
        let now = clock()
        return troubles.withLock { all in
            all.filter { now - $0.value.since >= patience }.map { name, trouble in
                trouble.since == -.infinity
                    ? "\(name): not served (\(trouble.reason))"
                    : "\(name): accept has failed for \(Int(now - trouble.since)) s (\(trouble.reason))"
            }.sorted()
        }
    }

    @Sendable public static func monotonic() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
