import Log
import OSThreads
import Session
import Sockets
import Synchronization

/// The server's half of path selection: tells each client where it may connect directly,
/// answers hole-punching requests with its own public address, and on `sync` dials the
/// client from its relay port. A punched connection is handed to `accept`, which runs the
/// usual TLS server side on it (allowlist included): punching opens no way around it.
public final class PathResponder: @unchecked Sendable {
    /// This server's relay registration: its public address as the relay saw it, and the
    /// local port it leaves from.
    public typealias RelayPath = @Sendable () -> (observed: Endpoint, localPort: UInt16)?

    private let listener: Endpoint?
    private let relayPath: RelayPath
    private let mapped: @Sendable () -> Endpoint?
    private let accept: @Sendable (Socket) -> Void
    private let logger: Logger
    /// Lines a peer can cause by asking over and over are rate-limited.
    private let noisy = LogRateLimit(clock: monotonicSeconds)
    private let punchSeconds: Double
    /// Per session (by object identity): the client's punch addresses until its sync.
    private let pending = Mutex<[ObjectIdentifier: (addresses: [Endpoint], asked: Double)]>([:])
    /// Punches under way at once, over all sessions (each holds a thread and a port).
    private let punching = Atomic<Int>(0)
    public static let maxPunches = 4
    /// A sync later than this after its punch is stale (the client has given up).
    static let syncWithinSeconds = 10.0

    /// - Parameters:
    ///   - listener: where the session listener is bound (nil: none), for the addresses.
    ///   - mapped: the listener's port as the router forwards it (port mapping), if it does.
    ///   - accept: takes a punched connection (to run TLS and the session on it).
    public init(
        listener: Endpoint?, punchSeconds: Double = 6, logger: Logger, relayPath: @escaping RelayPath,
        mapped: @escaping @Sendable () -> Endpoint? = { nil }, accept: @escaping @Sendable (Socket) -> Void
    ) {
        self.mapped = mapped
        self.listener = listener
        self.punchSeconds = punchSeconds
        self.logger = logger
        self.relayPath = relayPath
        self.accept = accept
    }

    /// Where a client may connect directly: the listener on each of this machine's
    /// addresses (a client on the same LAN), the port the router forwards to it (port
    /// mapping), and the listener's public mapping when the relay registration left from
    /// the listener's own port (a host without NAT, or a router that forwards that port).
    public var directAddresses: [Endpoint] {
        guard let listener else { return [] }
        var addresses: [Endpoint] =
            listener.host == "0.0.0.0" || listener.host == "::"
            ? NetworkInterfaces.ipv4Addresses().map { Endpoint(host: $0, port: listener.port) } : [listener]
        if let mapped = mapped(), !addresses.contains(mapped) { addresses.append(mapped) }
        if let relay = relayPath(), relay.localPort == listener.port, relay.observed.port == listener.port,
            !addresses.contains(relay.observed)
        {
            addresses.append(relay.observed)
        }
        return Array(addresses.prefix(ControlMessage.maxEndpoints))
    }

    /// A session has a new connection: tell the client the direct addresses.
    public func connected(_ session: Session) {
        session.send(.addresses(directAddresses))
    }

    /// The session's control messages that concern paths; others are ignored.
    public func handle(_ message: ControlMessage, in session: Session) {
        let key = ObjectIdentifier(session)
        switch message {
        case .punch(let clientAddresses):
            guard let relay = relayPath() else {
                noisy.log(
                    logger, .info, kind: "no-relay",
                    "\(session.peerName) asked to punch; no relay registration to punch from")
                session.send(.punch([]))
                return
            }
            let now = monotonicSeconds()
            pending.withLock { pending in
                pending = pending.filter { now - $0.value.asked < Self.syncWithinSeconds }  // stale ones go
                pending[key] = (Array(clientAddresses.prefix(ControlMessage.maxEndpoints)), now)
            }
            session.send(.punch([relay.observed]))
        case .sync:
            guard let asked = pending.withLock({ $0.removeValue(forKey: key) }),
                monotonicSeconds() - asked.asked < Self.syncWithinSeconds, !asked.addresses.isEmpty,
                let relay = relayPath()
            else {
                logger.info("\(session.peerName): a sync without a punch before it; ignored")
                return
            }
            guard punching.add(1, ordering: .relaxed).newValue <= Self.maxPunches else {
                punching.subtract(1, ordering: .relaxed)
                logger.warning("\(session.peerName): \(Self.maxPunches) punches already under way; not punching")
                return
            }
            let peer = session.peerName
            let punch: @Sendable () -> Void = { [self] in
                defer { punching.subtract(1, ordering: .relaxed) }
                logger.info(
                    "punching to \(asked.addresses.map(\.description).joined(separator: ", ")) "
                        + "from port \(relay.localPort) for \(peer)")
                // This end listens while it punches (HolePunch): its session listener when the
                // relay registration leaves from the listener's port, else a listener of its own.
                let listening = listener?.port == relay.localPort
                guard
                    let socket = HolePunch.dial(
                        asked.addresses, fromPort: relay.localPort, within: punchSeconds, listen: !listening)
                else {
                    logger.info(
                        listening
                            ? "punching to \(peer): no connection of its own (the client's may have come in on the listener)"
                            : "punching to \(peer) found no path")
                    return
                }
                logger.info("punched a connection to \(socket.peer)")
                accept(socket)
            }
            do { try OSThread.detach(name: "hole-punch", punch) } catch {
                punching.subtract(1, ordering: .relaxed)
                logger.warning("\(peer): not punching: \(error)")
            }
        default: break
        }
    }
}
