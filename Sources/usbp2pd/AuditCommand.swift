import ArgumentParser
import Audit
import CLISupport
import Config
import Log

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
        for event in events { print(json ? event.line : event.summary) }
        if !json, events.isEmpty { print("no events\(since.map { " since \($0)" } ?? "") in \(path)") }
        if log.skipped > 0 {
            printError("\(log.skipped) line(s) of \(path) skipped: torn by a power cut, or not events")
        }
    }
}
