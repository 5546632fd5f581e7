import FileSystem
import FoundationEssentials
import Log
import OSThreads
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

// The appliance's audit trail: state_directory/audit.log on the state partition, one JSON
// object a line, appended and flushed to the card one event at a time:
//
//   {"event":"shared","time":"2026-12-03T10:07:21.296Z","peer":"5vzb…","name":"ben's laptop",
//    "device":"2-1 (46f4:0001 serial=usbp2p-stick)","result":"ok"}
//
// Bounded: past `maxBytes` the file becomes audit.log.1 (replacing the one before) and a
// new one starts, so at most twice that is kept. A power cut in the middle of a write
// leaves a torn last line; the next start ends it with a newline so that it stays alone,
// and readers skip it: what was written before it is intact.

/// One thing that happened.
public struct AuditEvent: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case serviceStarted = "service-started"
        case serviceStopped = "service-stopped"
        case pairingMade = "pairing-made"
        case pairingRefused = "pairing-refused"
        case sessionOpened = "session-opened"
        case sessionResumed = "session-resumed"
        case sessionEnded = "session-ended"
        case attached
        case detached
        case importRefused = "import-refused"
        case shared
        case unshared
        case sharingRefused = "sharing-refused"
        case ownerChanged = "owner-changed"
        case allowlistAdded = "allowlist-added"
        case allowlistRemoved = "allowlist-removed"
        case allowlistCleared = "allowlist-cleared"
        case button
        case settingsApplied = "settings-applied"
        case settingsRefused = "settings-refused"
    }

    public var time: String
    public var event: Kind
    /// The laptop, by EndpointId, and the name it has on the allowlist.
    public var peer: String?
    public var name: String?
    public var device: String?
    /// The session's path (direct, relay) where it matters.
    public var path: String?
    /// "ok", or what went wrong.
    public var result: String?

    public init(
        _ event: Kind, time: String = Logger.timestamp(), peer: String? = nil, name: String? = nil,
        device: String? = nil, path: String? = nil, result: String? = nil
    ) {
        self.time = time
        self.event = event
        self.peer = peer
        self.name = name
        self.device = device
        self.path = path
        self.result = result
    }

    /// The event as the log keeps it: one line of JSON, keys sorted (no newline).
    public var line: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// The event from one line of the log (or of a server's answer), nil if it is not one.
    public init?(line: some StringProtocol) {
        guard let event = try? JSONDecoder().decode(AuditEvent.self, from: Data(line.utf8)) else { return nil }
        self = event
    }

    /// One line for a person: time, event, device, who, path, and how it went unless "ok";
    /// texts from the log are made safe for a terminal.
    public var summary: String {
        var words = [displaySafe(time.replacingFirst("T", with: " "), maxLength: 40), event.rawValue]
        if let device { words.append(displaySafe(device, maxLength: 128)) }
        if let peer {
            let short = displaySafe(peer.prefix(8), maxLength: 8) + "…"
            words.append(name.map { "\(displaySafe($0, maxLength: 64)) (\(short))" } ?? short)
        }
        if let path { words.append("via \(displaySafe(path, maxLength: 128))") }
        if let result, result != "ok" { words.append("— \(displaySafe(result, maxLength: 256))") }
        return words.joined(separator: "  ")
    }
}

extension String {
    fileprivate func replacingFirst(_ target: Character, with replacement: String) -> String {
        guard let index = firstIndex(of: target) else { return self }
        return String(self[..<index]) + replacement + String(self[self.index(after: index)...])
    }
}

/// Appends events to the audit log; used by the service alone (the one writer).
public final class AuditLog: Sendable {
    public let path: String
    public let maxBytes: Int
    private let logger: Logger
    private let file = Mutex<Int32>(-1)
    /// The last events, for the status page (read from the file once, at start).
    private let recent = Mutex<[AuditEvent]>([])
    public static let recentCount = 20
    /// Each field is cut to this many bytes: a peer's name or a reason cannot make a line huge.
    static let maxField = 512
    /// What strangers can cause (refused pairings; refused imports and sharing requests
    /// of paired laptops) is recorded at most 10 times a minute per kind, so that a flood
    /// cannot rotate the real history away; the next one recorded says how many were not.
    private let strangers: LogRateLimit
    static let rateLimited: Set<AuditEvent.Kind> = [.pairingRefused, .importRefused, .sharingRefused]

    /// Opens (or creates) the log, ending a torn last line. Failing to write the audit
    /// log is logged (once per failure run), never fatal: the devices matter more.
    public init(
        path: String, maxBytes: Int = 1 << 20, logger: Logger,
        clock: @escaping @Sendable () -> Double = monotonicSeconds
    ) {
        self.path = path
        self.maxBytes = max(maxBytes, 4096)
        self.logger = logger
        strangers = LogRateLimit(burst: 10, interval: 60, clock: clock)
        file.withLock { fd in fd = open() }
        let earlier = (try? Self.read(path: path))?.events.suffix(Self.recentCount) ?? []
        recent.withLock { $0 = Array(earlier) }
    }

    /// The last `recentCount` events, oldest first.
    public var recentEvents: [AuditEvent] { recent.withLock { $0 } }

    deinit { file.withLock { if $0 >= 0 { close($0) } } }

    public func record(_ event: AuditEvent) {
        var event = event
        if Self.rateLimited.contains(event.event) {
            let (allowed, skipped) = strangers.admit(kind: event.event.rawValue)
            guard allowed else { return }
            if skipped > 0 {
                event.result = (event.result ?? "") + " (\(skipped) more like it not recorded before this)"
            }
        }
        for keyPath in [\AuditEvent.peer, \.name, \.device, \.path, \.result] {
            if let text = event[keyPath: keyPath], text.utf8.count > Self.maxField {
                event[keyPath: keyPath] = String(decoding: text.utf8.prefix(Self.maxField), as: UTF8.self)
            }
        }
        let text = event.line
        guard !text.isEmpty else { return }
        recent.withLock { events in
            events.append(event)
            if events.count > Self.recentCount { events.removeFirst(events.count - Self.recentCount) }
        }
        let line = Array(text.utf8) + [10]
        file.withLock { fd in
            if fd >= 0, Self.size(of: fd) + line.count > maxBytes {
                close(fd)
                fd = -1
                rename(path, path + ".1")
            }
            if fd < 0 { fd = open() }
            guard fd >= 0 else { return }
            // One write per line (O_APPEND), then to the card: a power cut loses at most
            // the line being written.
            let written = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written != line.count || fdatasync(fd) != 0 {
                logger.warning("audit log \(path): an event was not written: \(String(cString: strerror(errno)))")
            }
        }
    }

    private func open() -> Int32 {
        // Read and write: the last byte is read to find a torn line.
        let fd = Glibc.open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            logger.warning("audit log \(path): \(String(cString: strerror(errno))); events go to the journal only")
            return -1
        }
        // A torn last line (a power cut mid-write) is ended, so the next event starts clean.
        let size = Self.size(of: fd)
        if size > 0 {
            var last: UInt8 = 0
            if pread(fd, &last, 1, off_t(size - 1)) == 1, last != 10 {
                var newline: UInt8 = 10
                _ = Glibc.write(fd, &newline, 1)
            }
        }
        return fd
    }

    private static func size(of fd: Int32) -> Int {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int(info.st_size) : 0
    }

    /// The earliest time (as the log writes it) that `text` lets in, nil when it is neither.
    public static func earliestTime(_ text: String, now: Double = Double(time(nil))) -> String? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = text.last.flatMap({ units[$0] }), let amount = Double(text.dropLast()), amount >= 0,
            amount * unit < 1e10
        {
            return Logger.timestamp(at: timespec(tv_sec: time_t(now - amount * unit), tv_nsec: 0))
        }
        // A prefix of the log's own form compares as text: "2026-12-03" ≤ "2026-12-03T…".
        let form = Array("0000-00-00T00:00:00")
        guard text.count >= 4, text.count <= form.count else { return nil }
        for (character, expected) in zip(text, form) {
            guard expected == "0" ? character.isASCII && character.isNumber : character == expected else { return nil }
        }
        return text
    }

    /// The events in `path.1` and `path`, oldest first, and how many lines were skipped
    /// (torn or not events).
    public static func read(path: String) throws(SystemError) -> (events: [AuditEvent], skipped: Int) {
        var events: [AuditEvent] = []
        var skipped = 0
        for file in [path + ".1", path] {
            guard let text = try AtomicFile.readState(file, maxSize: 8 << 20) else { continue }
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                if let event = AuditEvent(line: line) {
                    events.append(event)
                } else {
                    skipped += 1
                }
            }
        }
        return (events, skipped)
    }
}
