import FileSystem
import Identity
import Log
import OSThreads
import Secure
import Session
import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// An endpoint's side of the relay.
public enum RelayClient {
    public static let alpn = "usbp2p-relay/1"

    /// Connects to the relay, proves `identity` by signing its challenge, and registers
    /// for `purpose`. After `.connect` and `.accept`, the returned stream carries the
    /// peer's bytes (the end-to-end TLS runs inside it). `localPort` as in `TCP.connect`:
    /// the connection leaves from a port that hole punching can share.
    public static func register(
        _ purpose: RelayPurpose, at relay: Endpoint, relayId: EndpointId?, identity: EndpointIdentity,
        timeoutSeconds: Int = 10, localPort: UInt16? = nil
    ) throws -> (stream: TLSStream, observed: String) {
        let context = try TLSContext(role: .client, identity: identity, protocols: [alpn]) { relayKey in
            guard let relayId, relayKey != relayId else { return nil }
            return "the relay is \(relayKey), not the configured \(relayId)"
        }
        let socket = try TCP.connect(to: relay, timeoutSeconds: timeoutSeconds, localPort: localPort)
        do {
            socket.setReceiveTimeout(seconds: timeoutSeconds)
            let stream = try TLSStream(socket: socket, context: context)
            let (kind, payload) = try RelayMessageReader.read(from: stream)
            guard case .challenge(let nonce, let observed) = try RelayToEndpoint(kind: kind, payload: payload) else {
                throw RelayError.unexpected("no challenge")
            }
            guard let relayKey = stream.connection.peer else { throw RelayError.unexpected("the relay showed no key") }
            let signature = identity.sign(
                RelayWire.signedBytes(
                    nonce: nonce, purpose: purpose, relay: relayKey, exporter: try RelayWire.exporter(of: stream)))
            try stream.writeAll(
                EndpointToRelay.register(purpose, id: identity.endpointId, signature: signature).encoded)
            // A server may take a while to answer a connect; the relay bounds that wait.
            let (answerKind, answer) = try RelayMessageReader.read(from: stream)
            switch try RelayToEndpoint(kind: answerKind, payload: answer) {
            case .accepted:
                socket.setReceiveTimeout(seconds: 0)
                return (stream, observed)
            case .refused(let reason): throw RelayError.refused(reason)
            default: throw RelayError.unexpected("message \(answerKind) instead of an answer")
            }
        } catch {
            socket.close()
            throw error
        }
    }
}

/// Keeps a server registered at its relay as listening, reconnecting with backoff, and
/// hands each announced client (token, EndpointId) to `incoming`.
public final class RelayListener: @unchecked Sendable {
    private let relay: Endpoint
    private let relayId: EndpointId?
    private let identity: EndpointIdentity
    private let logger: Logger
    private let incoming: @Sendable ([UInt8], EndpointId) -> Void
    private let monitor = Monitor()
    private var stopped = false
    private var current: TLSStream?
    private var observed: String?
    private var port: UInt16?
    /// This endpoint's address as the relay saw it.
    public var observedAddress: String? { monitor.withLock { observed } }
    /// The local port of the current registration: hole punching dials from it, so the
    /// NAT shows the peer the same public address the relay saw.
    public var localPort: UInt16? { monitor.withLock { port } }
    /// Whether a registration stands now (the relay can announce clients).
    public var isRegistered: Bool { monitor.withLock { current != nil } }
    /// The port registrations try to leave from first (the server's session listener, so
    /// that the relay reports that port's public mapping); nil: any.
    private let preferredPort: UInt16?

    /// A ping goes to the relay after this much silence; no answer by the next: reconnect.
    static let keepaliveSeconds = 15

    public init(
        relay: Endpoint, relayId: EndpointId?, identity: EndpointIdentity, logger: Logger,
        preferredPort: UInt16? = nil, incoming: @escaping @Sendable ([UInt8], EndpointId) -> Void
    ) {
        self.preferredPort = preferredPort
        self.relay = relay
        self.relayId = relayId
        self.identity = identity
        self.logger = logger
        self.incoming = incoming
    }

    /// Waits until a registration stands (true) or `seconds` pass or the listener stops
    /// (false).
    public func waitUntilRegistered(seconds: Double) -> Bool {
        let deadline = monotonicSeconds() + seconds
        return monitor.withLock { monitor.wait(until: deadline) { current != nil || stopped } && current != nil }
    }

    public func start() {
        do { try OSThread.detach(name: "relay-listener") { [self] in run() } } catch {
            logger.error("relay: not registering: \(error)")
        }
    }

    public func stop() {
        let stream = monitor.withLock {
            stopped = true
            monitor.broadcast()
            return current
        }
        stream?.shutdown()
    }

    private func run() {
        var backoff = Backoff(initial: 0.5, cap: 30)
        while !monitor.withLock({ stopped }) {
            do {
                let (stream, seen) = try registerListening()
                let local = (stream.socket as? Socket).flatMap { TCP.localEndpoint(of: $0)?.port }
                monitor.withLock {
                    current = stream
                    observed = seen
                    port = local
                    monitor.broadcast()
                }
                backoff.reset()
                logger.notice("registered at relay \(relay) (seen as \(seen))")
                try listen(on: stream)
            } catch {
                monitor.withLock { current = nil }
                if monitor.withLock({ stopped }) { return }
                logger.warning("relay \(relay): \(error)")
            }
            let until = monotonicSeconds() + backoff.next()
            _ = monitor.withLock { monitor.wait(until: until) { stopped } }
        }
    }

    /// From the preferred port if it can be had (it cannot while the last connection from
    /// it to the relay lingers in TIME_WAIT), else from any port, shared either way.
    private func registerListening() throws -> (stream: TLSStream, observed: String) {
        if let preferredPort {
            do {
                return try RelayClient.register(
                    .listen, at: relay, relayId: relayId, identity: identity, localPort: preferredPort)
            } catch let error as SystemError where error.errno == EADDRINUSE || error.errno == EADDRNOTAVAIL {
                logger.info("relay: port \(preferredPort) is busy (\(error)); registering from another")
            }
        }
        return try RelayClient.register(.listen, at: relay, relayId: relayId, identity: identity, localPort: 0)
    }

    private func listen(on stream: TLSStream) throws {
        if let socket = stream.socket as? Socket { socket.setReceiveTimeout(seconds: Self.keepaliveSeconds) }
        var unanswered = false
        while true {
            let message: (kind: UInt8, payload: [UInt8])
            do {
                message = try RelayMessageReader.read(from: stream)
            } catch let error as SystemError where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
                guard !unanswered else { throw RelayError.unexpected("no answer to a keepalive") }
                unanswered = true
                try stream.writeAll(EndpointToRelay.ping.encoded)
                continue
            }
            unanswered = false
            switch try RelayToEndpoint(kind: message.kind, payload: message.payload) {
            case .incoming(let token, let from): incoming(token, from)
            case .pong: continue
            case let other: throw RelayError.unexpected("\(other)")
            }
        }
    }
}
