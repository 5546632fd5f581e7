import Log
import OSThreads
import Sockets

/// How a connection taken in joined its session.
public enum SessionJoining: Sendable, Equatable {
    /// A new session.
    case opened
    /// The session had lost its connection and continues on this one.
    case resumed
    /// The client, still connected, moved the session onto this connection (a better
    /// path, or a fresh one for its next path search); `from` is the path it left.
    case moved(from: String)
}

/// The server's sessions, by peer and id: a connection that says "resume" continues its
/// session if it is still within its grace period; otherwise a new one starts.
public final class SessionRegistry: @unchecked Sendable {
    private struct Key: Hashable {
        let peer: String
        let id: [UInt8]
    }

    private let monitor = Monitor()
    private var sessions: [Key: Session] = [:]
    private let configuration: SessionConfiguration
    private let logger: Logger
    private let makeEvents: @Sendable (String) -> SessionEvents
    /// Told of each connection taken in: the peer, its session, and how it joined it.
    private let accepted: @Sendable (String, Session, SessionJoining) -> Void
    /// Sessions one peer may hold at once (a laptop has one; a few allow for a
    /// reconnection that starts anew while the old one is still in its grace period).
    public static let maxSessionsPerPeer = 4

    /// - Parameter makeEvents: the events of a new session with the named peer.
    public init(
        configuration: SessionConfiguration, logger: Logger,
        accepted: @escaping @Sendable (String, Session, SessionJoining) -> Void = { _, _, _ in },
        makeEvents: @escaping @Sendable (String) -> SessionEvents
    ) {
        self.configuration = configuration
        self.logger = logger
        self.accepted = accepted
        self.makeEvents = makeEvents
    }

    public var count: Int { monitor.withLock { sessions.count } }

    /// Every session with the peer it belongs to.
    public var sessionsByPeer: [(peer: String, session: Session)] {
        monitor.withLock { sessions.map { ($0.key.peer, $0.value) } }
    }

    /// What each session is doing now (for the metrics).
    public var statuses: [Session.Status] { monitor.withLock { Array(sessions.values) }.map(\.status) }

    /// Runs the server's side of the hellos on an authenticated stream and hands the
    /// stream to its session. Throws when the stream is not usable (it is then closed).
    /// `path` says how the stream runs (by default its peer's address); `first` holds
    /// control messages the client gets before anything else of the session (queued
    /// before the hello reply goes out, so before any channel's answer).
    @discardableResult
    public func accept(
        _ stream: any ByteStream, peer: String, path: String? = nil, first: [ControlMessage] = []
    ) throws -> Session {
        let hello = try SessionHandshake.readHello(from: stream)
        let key = Key(peer: peer, id: hello.sessionId)
        let (session, resumed): (Session, Bool) = try monitor.withLock { () throws -> (Session, Bool) in
            if hello.resume, let existing = sessions[key], !existing.isEnded { return (existing, true) }
            guard sessions.keys.filter({ $0.peer == peer }).count < Self.maxSessionsPerPeer else {
                throw SessionError.local("\(peer) already has \(Self.maxSessionsPerPeer) sessions")
            }
            let id = SessionHandshake.newSessionId()
            let newKey = Key(peer: peer, id: id)
            var events = makeEvents(peer)
            let ended = events.ended
            events.ended = { [weak self] reason in
                self?.monitor.withLock { _ = self?.sessions.removeValue(forKey: newKey) }
                ended(reason)
            }
            let session = Session(
                id: id, role: .server, peerName: peer, configuration: configuration, logger: logger, events: events)
            sessions[newKey] = session
            return (session, false)
        }
        if hello.resume && !resumed { logger.info("\(peer) asked to resume a session that has ended; starting anew") }
        let joining: SessionJoining =
            !resumed ? .opened : session.isConnected ? .moved(from: session.currentPath) : .resumed
        var reply = session.hello(resume: resumed)
        reply.resume = resumed
        // The reply goes out once the session has retired its old connection (a client
        // moving to a better path closes that one as soon as it reads the reply). The
        // session is told as accepted before that: whatever the client asks next (its
        // audit log, say) comes after the session's own record.
        try session.attach(stream, peerReceived: resumed ? hello.receivedThrough : 0, path: path) {
            if !resumed { self.logger.notice("session with \(peer) started") }
            self.accepted(peer, session, joining)
            for message in first { session.send(message) }
            try SessionHandshake.send(reply, over: stream)
        }
        return session
    }

    /// Tells every client something.
    public func broadcast(_ message: ControlMessage) {
        let all = monitor.withLock { Array(sessions.values) }
        for session in all { session.send(message) }
    }

    /// Ends every session (the service is stopping): peers are told.
    public func endAll(reason: String) {
        let all = monitor.withLock { Array(sessions.values) }
        for session in all { session.end(reason: reason) }
    }
}
