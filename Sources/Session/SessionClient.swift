import Log
import OSThreads
import Sockets

/// The client's side: connects, keeps the session connected, and resumes it on a new
/// connection after a drop (backoff with jitter between attempts). When the server no
/// longer has the session (the grace period passed), a new session replaces it and
/// `replaced` is told, so the owner can attach its devices again.
public final class SessionClient: @unchecked Sendable {
    /// A new connection to the server, and how it runs (for logs and status).
    public typealias Connect = @Sendable () throws -> (stream: any ByteStream, path: String)

    private let connect: Connect
    private let configuration: SessionConfiguration
    private let logger: Logger
    private let peerName: String
    private let events: SessionEvents
    private let replaced: @Sendable (Session) -> Void
    private let monitor = Monitor()
    private var session: Session?
    private var stopped = false
    private var supervisor: OSThread?

    /// The supervisor is woken when the connection is lost or the session ends; it also
    /// looks this often, in case a wake was missed.
    static let checkInterval = 5.0
    /// At most this long between attempts: a link that comes back is used within
    /// seconds, well inside the grace period, while a relay is not hammered.
    static let maxRetryDelay = 4.0

    public init(
        peerName: String, configuration: SessionConfiguration, logger: Logger, events: SessionEvents = .init(),
        replaced: @escaping @Sendable (Session) -> Void = { _ in }, connect: @escaping Connect
    ) {
        self.peerName = peerName
        self.configuration = configuration
        self.logger = logger
        self.replaced = replaced
        self.connect = connect
        // The session's own events also wake the supervisor (no polling while connected).
        var watched = events
        let monitor = self.monitor
        watched.disconnected = { reason in
            events.disconnected(reason)
            monitor.withLock { monitor.broadcast() }
        }
        watched.ended = { reason in
            events.ended(reason)
            monitor.withLock { monitor.broadcast() }
        }
        self.events = watched
    }

    public var current: Session? { monitor.withLock { session } }

    /// Connects once (errors are the caller's to report) and keeps the session up from
    /// then on, until `stop()`.
    @discardableResult
    public func start() throws -> Session {
        let first = try establish(resuming: nil)
        monitor.withLock { session = first }
        do { supervisor = try OSThread.start(name: "session-keeper") { [self] in supervise() } } catch {
            first.end(reason: "\(error)")
            throw error
        }
        return first
    }

    /// Ends the session (the server is told) and stops reconnecting.
    public func stop(reason: String) {
        let s = monitor.withLock {
            stopped = true
            monitor.broadcast()
            return session
        }
        s?.end(reason: reason)
        supervisor?.join()
    }

    /// Moves the live session onto `stream` (a better path than the current one): the
    /// hellos, then the session continues there with nothing lost. Throws, and leaves
    /// the session where it was, when the server cannot resume it on the new stream.
    public func move(to stream: any ByteStream, path: String) throws {
        guard let current = monitor.withLock({ session }), !current.isEnded else {
            stream.close()
            throw SessionError.ended("no session to move")
        }
        // The server retires the old connection as soon as it takes the new one, before
        // this side has read its hello: that ending is expected.
        current.beginMove()
        do {
            try SessionHandshake.send(current.hello(resume: true), over: stream)
            let reply = try SessionHandshake.readHello(from: stream)
            guard reply.resume, reply.sessionId == current.id else {
                throw SessionError.cannotResume("the server did not resume the session on the new path")
            }
            try current.attach(stream, peerReceived: reply.receivedThrough, path: path)
        } catch {
            current.abandonMove()
            stream.shutdown()
            stream.close()
            throw error
        }
    }

    /// Moves the live session onto a new connection made as for a reconnection (the
    /// relay, or a direct path that answers first): a new relay connection leaves from a
    /// new local port, so the NATs see a new address pair.
    public func moveToNewConnection() throws {
        let (stream, path) = try connect()
        try move(to: stream, path: path)
    }

    /// One connection: hellos, then the stream goes to the resumed or a new session.
    private func establish(resuming old: Session?) throws -> Session {
        let (stream, path) = try connect()
        do {
            let hello =
                old.map { $0.hello(resume: true) }
                ?? SessionHello(resume: false, sessionId: SessionHello.newSession, receivedThrough: 0)
            try SessionHandshake.send(hello, over: stream)
            let reply = try SessionHandshake.readHello(from: stream)
            if let old, reply.resume {
                guard reply.sessionId == old.id else {
                    throw SessionError.cannotResume("the server resumed another session")
                }
                try old.attach(stream, peerReceived: reply.receivedThrough, path: path)
                return old
            }
            if let old { old.finish("the server no longer has the session") }
            let fresh = Session(
                id: reply.sessionId, role: .client, peerName: peerName, configuration: configuration, logger: logger,
                events: events)
            try fresh.attach(stream, peerReceived: 0, path: path)
            return fresh
        } catch {
            stream.shutdown()
            stream.close()
            throw error
        }
    }

    private func supervise() {
        var backoff = Backoff(initial: 0.25, cap: Self.maxRetryDelay)
        while true {
            let s: Session? = monitor.withLock {
                while !stopped, let s = session, s.isConnected { monitor.wait(seconds: Self.checkInterval) }
                return stopped ? nil : session
            }
            guard let s else { return }
            do {
                let next = try establish(resuming: s.isEnded ? nil : s)
                backoff.reset()
                if next !== s {
                    monitor.withLock { session = next }
                    logger.notice("new session with \(peerName)")
                    replaced(next)
                }
            } catch {
                let delay = backoff.next()
                logger.info("reconnecting to \(peerName) failed (\(error)); next try in \(Int(delay * 1000)) ms")
                let until = monotonicSeconds() + delay
                _ = monitor.withLock { monitor.wait(until: until) { stopped } }
            }
        }
    }
}
