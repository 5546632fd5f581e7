import Log
import OSThreads
import Session
import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// The client's half of path selection: while the session runs through the relay, it
/// looks for a direct path and moves the live session onto it (the session's resume
/// mechanism: nothing is lost and the devices never notice). In order:
///  1. the addresses the server gave (its LAN addresses, a mapped port, its public
///     address): dialled side by side;
///  2. TCP hole punching, as libp2p's DCUtR does it: both ends exchange their public
///     addresses over the relayed session (`punch`), the client measures that round trip,
///     sends `sync` and waits half of it, and both dial at once from their relay ports.
/// When the direct path dies the session client reconnects, through the relay if need
/// be, and the server's addresses on that connection start the search again.
public final class PathUpgrader: @unchecked Sendable {
    /// What the connection through the relay looks like from here.
    public struct RelayPath: Sendable {
        /// The local port it leaves from (hole punching dials from it too).
        public var localPort: UInt16
        /// This end's address as the relay saw it.
        public var observed: Endpoint
        public init(localPort: UInt16, observed: Endpoint) {
            self.localPort = localPort
            self.observed = observed
        }
    }

    public struct Timing: Sendable {
        /// How long a direct dial to one of the server's addresses may take.
        public var directSeconds = 2
        /// How long the server may take to answer a punch.
        public var punchAnswerSeconds = 5.0
        /// How long both ends keep dialling after the sync.
        public var punchSeconds = 6.0
        /// After a search that found nothing, the next one waits at least this long
        /// (doubling up to `retryCap`).
        public var retryInitial = 10.0
        public var retryCap = 300.0
        public init() {}
    }

    public typealias Secure = @Sendable (Socket) throws -> any ByteStream

    private let secure: Secure
    private let timing: Timing
    private let logger: Logger
    private let monitor = Monitor()
    // Guarded by monitor.
    private weak var client: SessionClient?
    private var relayPath: RelayPath?
    private var searching = false
    private var punchAnswer: [Endpoint]?
    private var lastAddresses: [Endpoint] = []
    private var backoff: Backoff
    /// Direct addresses that worked without punching: the session client may dial them
    /// first when it has to reconnect.
    private var dialable: [Endpoint] = []

    /// - Parameter secure: the TLS client handshake, pinned to the server, on a new socket.
    public init(timing: Timing = .init(), logger: Logger, secure: @escaping Secure) {
        self.timing = timing
        self.logger = logger
        self.secure = secure
        backoff = Backoff(initial: timing.retryInitial, cap: timing.retryCap)
    }

    /// The client whose session this moves; set once, before the session starts.
    public func manage(_ client: SessionClient) { monitor.withLock { self.client = client } }

    /// The connection being set up runs through the relay like this (nil: it is direct).
    public func connecting(through relay: RelayPath?) { monitor.withLock { relayPath = relay } }

    /// Direct addresses that worked before, to try again on a reconnection.
    public var knownDirect: [Endpoint] { monitor.withLock { dialable } }

    /// The session's control messages that concern paths; others are ignored.
    public func handle(_ message: ControlMessage, in session: Session) {
        switch message {
        case .addresses(let endpoints):
            let start: Bool = monitor.withLock {
                lastAddresses = endpoints
                guard relayPath != nil, !searching else { return false }
                searching = true
                return true
            }
            if start {
                do { try OSThread.detach(name: "path-search") { [self] in searchWhileRelayed(session) } } catch {
                    monitor.withLock { searching = false }
                    logger.warning("not looking for a direct path: \(error)")
                }
            }
        case .punch(let endpoints):
            monitor.withLock {
                punchAnswer = endpoints
                monitor.broadcast()
            }
        default: break
        }
    }

    /// Searches until the session is direct, or ends; between searches that find
    /// nothing it waits longer each time (a NAT that does not allow punching today will
    /// not tomorrow either, but a network change may).
    ///
    /// Each search after the first starts on a new relay connection, from a new local
    /// port: a failed punch leaves the NATs with half-open entries for its address pair
    /// (for two minutes in Linux's conntrack), and a new SYN on that pair, with another
    /// sequence number, is out of their window and dropped.
    private func searchWhileRelayed(_ session: Session) {
        var first = true
        while true {
            if !first, let client = monitor.withLock({ client }) {
                do { try client.moveToNewConnection() } catch {
                    logger.info("a new connection for the next search failed: \(error)")
                }
                if monitor.withLock({ relayPath == nil }) { break }  // it came up direct
            }
            first = false
            let addresses = monitor.withLock { lastAddresses }
            if search(addresses, in: session) { break }
            let stillRelayed: Bool = monitor.withLock {
                let until = monotonicSeconds() + backoff.next()
                while relayPath != nil, client != nil, monotonicSeconds() < until {
                    monitor.wait(seconds: min(1, until - monotonicSeconds()))
                    if session.isEnded { return false }
                }
                return relayPath != nil && client != nil && !session.isEnded
            }
            guard stillRelayed else { break }
        }
        monitor.withLock {
            searching = false
            backoff.reset()
        }
    }

    private func search(_ addresses: [Endpoint], in session: Session) -> Bool {
        guard let client = monitor.withLock({ client }) else { return false }
        let started = monotonicSeconds()
        if !addresses.isEmpty, let (stream, address) = dialDirect(addresses) {
            if move(client, to: stream, path: "direct \(address)", since: started) {
                monitor.withLock { if !dialable.contains(address) { dialable.insert(address, at: 0) } }
                return true
            }
        }
        guard let relay = monitor.withLock({ relayPath }) else { return false }
        guard let (stream, address) = punch(relay, in: session) else {
            logger.notice("no direct path to \(session.peerName) found; staying on the relay")
            return false
        }
        return move(client, to: stream, path: "direct \(address) (hole-punched)", since: started)
    }

    private func move(_ client: SessionClient, to stream: any ByteStream, path: String, since started: Double) -> Bool {
        do {
            try client.move(to: stream, path: path)
            monitor.withLock { relayPath = nil }
            logger.notice("moved to \(path) in \(Int((monotonicSeconds() - started) * 1000)) ms")
            return true
        } catch {
            logger.warning("could not move the session to \(path): \(error)")
            return false
        }
    }

    /// The server's own addresses, dialled side by side; TLS on the first to answer.
    private func dialDirect(_ addresses: [Endpoint]) -> (any ByteStream, Endpoint)? {
        let seconds = timing.directSeconds
        let attempts: [@Sendable () throws -> (Socket, Endpoint)] = addresses.map { address in
            { (try TCP.connect(to: address, timeoutSeconds: seconds), address) }
        }
        guard let (socket, address) = try? FirstOf.run(attempts, stagger: 0, discard: { $0.0.close() }) else {
            logger.info("no answer directly from \(addresses.map(\.description).joined(separator: ", "))")
            return nil
        }
        do { return (try secure(socket), address) } catch {
            logger.info("direct connection to \(address) failed in TLS: \(error)")
            socket.close()
            return nil
        }
    }

    /// DCUtR over the relayed session: punch, answer, sync, and both dial.
    private func punch(_ relay: RelayPath, in session: Session) -> (any ByteStream, Endpoint)? {
        monitor.withLock { punchAnswer = nil }
        let asked = monotonicSeconds()
        session.send(.punch([relay.observed]))
        let answer: [Endpoint]? = monitor.withLock {
            let deadline = asked + timing.punchAnswerSeconds
            while punchAnswer == nil, monotonicSeconds() < deadline {
                monitor.wait(seconds: deadline - monotonicSeconds())
            }
            return punchAnswer
        }
        let roundTrip = monotonicSeconds() - asked
        guard let answer, !answer.isEmpty else {
            logger.info("the server gave no address to punch to")
            return nil
        }
        session.send(.sync)
        // The sync takes half a round trip to reach the server, which dials at once.
        usleep(UInt32(min(roundTrip / 2, 2) * 1_000_000))
        logger.info(
            "punching to \(answer.map(\.description).joined(separator: ", ")) from port \(relay.localPort) "
                + "(relay round trip \(Int(roundTrip * 1000)) ms)")
        guard let socket = HolePunch.dial(answer, fromPort: relay.localPort, within: timing.punchSeconds) else {
            return nil
        }
        let address = Endpoint(parsing: socket.peer, defaultPort: 0) ?? answer[0]
        do { return (try secure(socket), address) } catch {
            logger.info("punched connection to \(address) failed in TLS: \(error)")
            socket.close()
            return nil
        }
    }
}
