import ArgumentParser
import Audit
import CLISupport
import Log
import OSThreads
import Session

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
        let config = try options.loadConfig(for: Client.self)
        let log = options.logger(for: Client.self, config: config)
        let identity = try loadIdentity(config: config, log: log)
        let address = try ServerAddress.resolve(server, peers: try Peers.load(config))
        let answer = AuditAnswer()
        let client = try ServerConnection.client(
            for: address, relay: relayOptions.relay, config: config, identity: identity, log: log,
            events: SessionEvents(control: { message, _ in answer.take(message) }))
        let session: Session
        do { session = try client.start() } catch {
            throw ServerConnection.explain(error, server: address, identity: identity)
        }
        defer { client.stop(reason: "audit log read") }
        session.send(.auditRequest(since: since ?? ""))
        guard let (lines, ending) = answer.wait(seconds: Double(AttachCommand.replyTimeoutSeconds)) else {
            throw CLIError("the server did not answer within \(AttachCommand.replyTimeoutSeconds) s")
        }
        if case .refused(let why) = ending { throw CLIError(displaySafe(why, maxLength: 1024)) }
        var unreadable = 0
        for line in lines {
            guard let event = AuditEvent(line: line) else {
                unreadable += 1
                continue
            }
            print(json ? event.line : event.summary)
        }
        if case .complete(let note) = ending, !note.isEmpty { printError(displaySafe(note, maxLength: 1024)) }
        if unreadable > 0 { printError("\(unreadable) event(s) from the server were not audit events: left out") }
        if !json, lines.isEmpty { print("no events\(since.map { " since \($0)" } ?? "")") }
    }
}

/// A server's answer to an audit request: its events, then how it ended.
private final class AuditAnswer: @unchecked Sendable {
    enum Ending {
        case complete(note: String)
        case refused(String)
    }
    private let monitor = Monitor()
    private var lines: [String] = []
    private var ending: Ending?

    func take(_ message: ControlMessage) {
        guard case .auditPart(let last, let refused, let text) = message else { return }
        monitor.withLock {
            guard ending == nil else { return }
            if !last {
                // More than the server promises to send is not kept.
                if lines.count < 1000 { lines.append(text) }
                return
            }
            ending = refused ? .refused(text) : .complete(note: text)
            monitor.broadcast()
        }
    }

    func wait(seconds: Double) -> (lines: [String], ending: Ending)? {
        monitor.withLock {
            monitor.wait(until: monotonicSeconds() + seconds) { ending != nil }
            return ending.map { (lines, $0) }
        }
    }
}
