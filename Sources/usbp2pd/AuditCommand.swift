import ArgumentParser
import Audit
import CLISupport
import Config
import FoundationEssentials
import Log

#if canImport(Glibc)
    import Glibc
#endif

/// `usbp2pd audit`: who did what with this appliance, from the audit log.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Print the audit log: pairings, sessions, attaches, sharing and allowlist changes, starts and stops.",
        discussion: """
            The log is state_directory/audit.log (and audit.log.1 before it), one JSON \
            object a line, kept on the state partition across reboots and power cuts. A \
            line torn by a power cut is skipped (and counted). --since takes a UTC time \
            (2026-12-03, 2026-12-03T10:00) or an age (90s, 30m, 12h, 7d).
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: ArgumentHelp("Only events at or after this time or age.", valueName: "time")) var since: String?
    @Flag(help: "Print the events as JSON lines, as the log keeps them.") var json = false

    func validate() throws {
        if let since, AuditLog.earliestTime(since) == nil {
            throw ValidationError("--since '\(since)': expected a UTC time like 2026-12-03T10:00 or an age like 30m")
        }
    }

    func run() throws {
        let config = try options.loadServerConfig()
        let path = "\(config.string("state_directory"))/audit.log"
        let log: (events: [AuditEvent], skipped: Int)
        do { log = try AuditLog.read(path: path) } catch { throw CLIError("\(error) (are you root?)") }
        let from = since.flatMap { AuditLog.earliestTime($0) } ?? ""
        let events = log.events.filter { $0.time >= from }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for event in events {
            if json {
                print(String(decoding: (try? encoder.encode(event)) ?? Data(), as: UTF8.self))
            } else {
                print(Self.describe(event))
            }
        }
        if !json, events.isEmpty { print("no events\(since.map { " since \($0)" } ?? "") in \(path)") }
        if log.skipped > 0 {
            let note = Array("\(log.skipped) line(s) of \(path) skipped: torn by a power cut, or not events\n".utf8)
            _ = note.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        }
    }

    /// One line for a person: time, event, who, what, how it went.
    static func describe(_ event: AuditEvent) -> String {
        var words = [event.time.replacingFirst("T", with: " "), event.event.rawValue]
        if let device = event.device { words.append(device) }
        if let peer = event.peer {
            let short = String(peer.prefix(8)) + "…"
            words.append(event.name.map { "\(displaySafe($0, maxLength: 64)) (\(short))" } ?? short)
        }
        if let path = event.path { words.append("via \(path)") }
        if let result = event.result, result != "ok" { words.append("— \(displaySafe(result, maxLength: 256))") }
        return words.joined(separator: "  ")
    }
}

extension String {
    fileprivate func replacingFirst(_ target: Character, with replacement: String) -> String {
        guard let index = firstIndex(of: target) else { return self }
        return String(self[..<index]) + replacement + String(self[self.index(after: index)...])
    }
}
