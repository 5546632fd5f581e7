import Synchronization

/// Keeps a repeated event from flooding the log: a burst of lines per interval for each
/// kind of event, then silence, then one line saying how many were left out. Anyone who
/// can make the service log (a stranger's handshake, a peer's control messages) could
/// otherwise fill the journal; the keys are fixed kinds of event, never peer-chosen text,
/// so the table stays small.
public final class LogRateLimit: Sendable {
    /// Lines of one kind per interval.
    public let burst: Int
    /// Seconds.
    public let interval: Double
    private let clock: @Sendable () -> Double
    private let state = Mutex<[String: Window]>([:])

    private struct Window {
        var start: Double
        var lines: Int
        var suppressed: Int
    }

    public init(burst: Int = 10, interval: Double = 60, clock: @escaping @Sendable () -> Double) {
        self.burst = burst
        self.interval = interval
        self.clock = clock
    }

    /// Logs `message` at `level` unless this kind of event has had its burst in the
    /// current interval; the first line of a new interval tells how many were left out.
    public func log(_ logger: Logger, _ level: LogLevel, kind: String, _ message: @autoclosure () -> String) {
        let (allowed, skipped) = admit(kind: kind)
        guard allowed else { return }
        let note = skipped > 0 ? " (\(skipped) more like it left out before this)" : ""
        logger.log(level, message() + note)
    }

    /// Whether one more event of `kind` may go out now, and how many were left out in the
    /// interval before (told with the first event of a new one).
    public func admit(kind: String) -> (allowed: Bool, skipped: Int) {
        let now = clock()
        return state.withLock { table in
            var window = table[kind] ?? Window(start: now, lines: 0, suppressed: 0)
            var skipped = 0
            if now - window.start >= interval {
                skipped = window.suppressed
                window = Window(start: now, lines: 0, suppressed: 0)
            }
            let allowed = window.lines < burst
            if allowed { window.lines += 1 } else { window.suppressed += 1 }
            table[kind] = window
            return (allowed, skipped)
        }
    }
}
