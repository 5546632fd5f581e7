import ArgumentParser
import Audit
import CLISupport
import Log
import OSThreads
import Session
import Synchronization

/// `usbp2p-client audit`: the owner reads a server's audit log from the laptop.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract:
            "Print a server's audit log (its owner only): pairings, sessions, attaches, sharing, allowlist changes.",
        discussion: """
            The server sends its most recent events (at most 200) since --since, a UTC time \
            (2026-12-03, 2026-12-03T10:00) or an age (90s, 30m, 12h, 7d) on the server's \
            clock; 'usbp2pd audit' on the server prints all of them. SERVER may be left out \
            when only one server is paired.
            """)

    @OptionGroup var options: CommonOptions
    @OptionGroup var relayOptions: RelayOptions
    @Argument(help: ArgumentHelp("The server (an EndpointId or its name).", valueName: "server")) var server: String?
    @Option(help: ArgumentHelp("Only events at or after this time or age.", valueName: "time")) var since: String?
    @Flag(help: "Print the events as JSON lines, as the server's log keeps them.") var json = false

    func validate() throws {
        if let since, since.utf8.count > ControlMessage.maxAuditSince || AuditLog.earliestTime(since) == nil {
            throw ValidationError("--since '\(since)': expected a UTC time like 2026-12-03T10:00 or an age like 30m")
        }
    }

    func run() throws {
        try ServiceConnection.forward("audit", options: options)
        // The events, then the last part: its note, or why the request was refused.
        let lines = Mutex<[String]>([])
        let ending = Awaited<(refused: Bool, text: String)>()
        let (client, session) = try ServerConnection.commandSession(
            with: server, options: options, relay: relayOptions.relay,
            events: SessionEvents(control: { message, _ in
                guard case .auditPart(let last, let refused, let text) = message else { return }
                if last { return ending.deliver((refused, text)) }
                // More than the server promises to send is not kept.
                lines.withLock { if $0.count < 1000 { $0.append(text) } }
            }))
        defer { client.stop(reason: "audit log read") }
        session.send(.auditRequest(since: since ?? ""))
        guard let (refused, note) = ending.wait(seconds: Double(AttachCommand.replyTimeoutSeconds)) else {
            throw CLIError("the server did not answer within \(AttachCommand.replyTimeoutSeconds) s")
        }
        if refused { throw CLIError(displaySafe(note, maxLength: 1024)) }
        let events = lines.withLock { $0 }
        var unreadable = 0
        for line in events {
            guard let event = AuditEvent(line: line) else {
                unreadable += 1
                continue
            }
            print(json ? event.line : event.summary)
        }
        if !note.isEmpty { printError(displaySafe(note, maxLength: 1024)) }
        if unreadable > 0 { printError("\(unreadable) event(s) from the server were not audit events: left out") }
        if !json, events.isEmpty { print("no events\(since.map { " since \($0)" } ?? "")") }
    }
}
