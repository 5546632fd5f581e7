#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How much to say. Ordered from most to least verbose.
public enum LogLevel: String, CaseIterable, Comparable, Sendable {
    case trace, debug, info, notice, warning, error, critical

    public static func < (a: LogLevel, b: LogLevel) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// syslog priority, for the `<N>` prefix journald reads from a service's stderr.
    var syslogPriority: Int {
        switch self {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}

/// A small leveled logger writing one line per message to stderr.
///
/// swift-log would be the natural choice, but its only version served to this project
/// needs tools 6.2 and the Pi's binary is built with Swift 6.0 (docs/architecture.md).
/// Under systemd (JOURNAL_STREAM set) lines carry a `<priority>` prefix and no
/// timestamp, since journald adds both; on a terminal they carry a UTC timestamp.
public struct Logger: Sendable {
    public let label: String
    public var level: LogLevel
    private let forJournal: Bool
    /// Where lines go instead of stderr (a test that shows what a component said when
    /// it fails).
    private let sink: (@Sendable (String) -> Void)?

    public init(label: String, level: LogLevel = .info, sink: (@Sendable (String) -> Void)? = nil) {
        self.label = label
        self.level = level
        self.sink = sink
        self.forJournal = sink == nil && getenv("JOURNAL_STREAM") != nil
    }

    /// The longest message written; longer ones are cut (a peer's text inside one
    /// cannot fill the journal).
    public static let maxMessageLength = 2048

    /// Writes one line. Messages often carry text from peers and devices: every control
    /// character in them is escaped (`displaySafe`), so no message can forge a line of its
    /// own, a journal priority or a terminal sequence.
    public func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        guard level >= self.level else { return }
        let text = displaySafe(message(), maxLength: Self.maxMessageLength)
        let line: String
        if forJournal {
            line = "<\(level.syslogPriority)>\(label): \(text)\n"
        } else {
            line = "\(Self.timestamp()) \(level.rawValue) \(label): \(text)\n"
        }
        if let sink { return sink(line) }
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    public func trace(_ message: @autoclosure () -> String) { log(.trace, message()) }
    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func notice(_ message: @autoclosure () -> String) { log(.notice, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }

    /// Now, in UTC, as RFC 3339 with milliseconds ("2026-12-03T10:07:21.296Z").
    public static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return timestamp(at: now)
    }

    /// A wall-clock time in the same form.
    public static func timestamp(at now: timespec) -> String {
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let millis = Int(now.tv_nsec / 1_000_000)
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(ms)Z"
    }
}
