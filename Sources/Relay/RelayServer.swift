import Identity
import Log
import OSThreads
import Secure
import Sockets
import Sodium

/// usbp2p-relay's service: authenticates endpoints by a signed challenge, tells them
/// their observed address, and splices a client to the server it asked for. What it
/// splices is the endpoints' own end-to-end TLS: it never sees plaintext.
///
/// One thread per connection (its TLS handshake and registration are bounded by a
/// timeout); a splice is two threads copying through one fixed buffer each, so a slow
/// reader holds back its sender instead of filling the relay's memory.
public final class RelayServer: @unchecked Sendable {
    public struct Limits: Sendable {
        /// Connections at once.
        public var connections = 1024
        /// Connections one EndpointId may hold at once (listening, connecting, accepting).
        public var connectionsPerEndpoint = 8
        /// Connections one source address may hold at once, registered or not (OpenSSH's
        /// MaxStartups in spirit): one host cannot fill every slot. Generous, since many
        /// laptops may share one public address behind a carrier's NAT.
        public var connectionsPerSource = 64
        /// How long a connection may take to finish TLS and register, in all (not per read).
        public var registrationSeconds = 10
        /// How long a listening server may take to accept a client.
        public var acceptSeconds = 10.0
        /// Bytes buffered per direction of a splice.
        public var spliceBuffer = 64 * 1024
        /// A listener that sends nothing (not even a ping) for this long is dropped.
        public var listenerIdleSeconds = 60
        /// A splice with nothing to carry in one direction for this long ends (sessions
        /// ping every few seconds, so only a dead or hostile pair goes quiet so long).
        public var spliceIdleSeconds = 120
        public init() {}
    }

    public let listener: TCP.Listener
    private let tls: TLSContext
    /// This relay's key, which registrations sign beside the challenge.
    private let relayId: EndpointId
    private let limits: Limits
    private let logger: Logger
    private let monitor = Monitor()
    // Guarded by monitor.
    private var listeners: [EndpointId: any ByteStream] = [:]
    private var pending: [[UInt8]: Pending] = [:]
    private var perEndpoint: [EndpointId: Int] = [:]
    private var connections = 0
    private var perSource: [String: Int] = [:]
    private var stopped = false
    /// Ends registrations that take longer than `limits.registrationSeconds` in all.
    private let deadlines: Deadlines
    /// Lines anyone can cause (refusals, failed registrations) are rate-limited.
    private let noisy = LogRateLimit(clock: monotonicSeconds)

    private final class Pending {
        let client: any ByteStream
        let from: EndpointId
        let target: EndpointId
        var acceptor: (any ByteStream)?
        /// The splice (or the attempt) is over.
        var done = false
        init(client: any ByteStream, from: EndpointId, target: EndpointId) {
            self.client = client
            self.from = from
            self.target = target
        }
    }

    public init(identity: EndpointIdentity, endpoint: Endpoint, limits: Limits = .init(), logger: Logger) throws {
        self.limits = limits
        self.logger = logger
        relayId = identity.endpointId
        // Endpoints show their key in TLS too; the relay admits any (the registration says who).
        tls = try TLSContext(role: .server, identity: identity, protocols: [RelayClient.alpn]) { _ in nil }
        listener = try TCP.Listener(endpoint: endpoint, backlog: 128)
        deadlines = try Deadlines(name: "relay-deadlines")
    }

    public func start() {
        logger.notice("relay listening on \(listener.endpoint)")
        do {
            try OSThread.detach(name: "relay-accept") { [self] in
                AcceptLoop.run(
                    accept: listener.accept, failing: { logger.warning("accept: \($0); trying again") },
                    recovered: { logger.notice("accepting again") }, serve: admit)
            }
        } catch {
            logger.error("not accepting: \(error)")
        }
    }

    /// Connections, and connections from one source address, at once are bounded; each
    /// admitted one gets a thread (refused, with a log line, when none can be had).
    private func admit(_ socket: Socket) {
        let source = Endpoint(parsing: socket.peer, defaultPort: 0)?.host ?? socket.peer
        let refusal: String? = monitor.withLock {
            guard connections < limits.connections else { return "\(limits.connections) connections already" }
            guard perSource[source, default: 0] < limits.connectionsPerSource else {
                return "\(limits.connectionsPerSource) connections from \(source) already"
            }
            connections += 1
            perSource[source, default: 0] += 1
            return nil
        }
        if let refusal {
            noisy.log(logger, .warning, kind: "refused", "\(socket.peer): refused, \(refusal)")
            socket.close()
            return
        }
        let release: @Sendable () -> Void = { [self] in
            monitor.withLock {
                connections -= 1
                perSource[source]! -= 1
                if perSource[source] == 0 { perSource[source] = nil }
            }
        }
        do {
            try OSThread.detach(name: "relay-conn") { [self] in
                serve(socket)
                release()
            }
        } catch {
            logger.warning("\(socket.peer): refused: \(error)")
            socket.close()
            release()
        }
    }

    public func stop() {
        monitor.withLock { stopped = true }
        listener.socket.shutdown()
    }

    private func serve(_ socket: Socket) {
        socket.setReceiveTimeout(seconds: limits.registrationSeconds)
        // The whole of TLS and the registration, not each read: a trickle runs out too.
        let deadline = deadlines.schedule(after: Double(limits.registrationSeconds)) { socket.shutdown() }
        let stream: TLSStream
        let nonce = Sodium.randomBytes(RelayWire.nonceLength)
        let purpose: RelayPurpose
        let id: EndpointId
        do {
            stream = try TLSStream(socket: socket, context: tls)
            try stream.writeAll(RelayToEndpoint.challenge(nonce: nonce, observed: socket.peer).encoded)
            let (kind, payload) = try RelayMessageReader.read(from: stream)
            guard case .register(let p, let claimed, let signature) = try EndpointToRelay(kind: kind, payload: payload)
            else { throw RelayError.unexpected("a ping before registering") }
            let signed = RelayWire.signedBytes(
                nonce: nonce, purpose: p, relay: relayId, exporter: try RelayWire.exporter(of: stream))
            guard claimed.verify(signature: signature, of: signed) else {
                deadlines.cancel(deadline)
                logger.notice("\(socket.peer): registration as \(claimed) refused: bad signature")
                try? stream.writeAll(RelayToEndpoint.refused("the signature does not verify for \(claimed)").encoded)
                socket.close()
                return
            }
            purpose = p
            id = claimed
        } catch {
            deadlines.cancel(deadline)
            noisy.log(logger, .info, kind: "unregistered", "\(socket.peer): closed before registering: \(error)")
            socket.close()
            return
        }
        guard deadlines.cancel(deadline) else {
            noisy.log(
                logger, .info, kind: "unregistered",
                "\(socket.peer): closed: registration took more than \(limits.registrationSeconds) s")
            socket.close()
            return
        }
        // A server answering a client counts against that client, never against itself:
        // otherwise anyone who knows a server's EndpointId could fill its slots by asking
        // for it over and over. (An accept with no waiting client is refused below.)
        let owner: EndpointId = monitor.withLock {
            if case .accept(let token) = purpose, let entry = pending[token], entry.target == id { return entry.from }
            return id
        }
        let counted = monitor.withLock {
            guard perEndpoint[owner, default: 0] < limits.connectionsPerEndpoint else { return false }
            perEndpoint[owner, default: 0] += 1
            return true
        }
        guard counted else {
            try? stream.writeAll(RelayToEndpoint.refused("too many connections for \(owner)").encoded)
            socket.close()
            return
        }
        defer {
            monitor.withLock {
                perEndpoint[owner]! -= 1
                if perEndpoint[owner] == 0 { perEndpoint[owner] = nil }
            }
            socket.close()
        }
        switch purpose {
        case .listen: serveListener(stream, socket: socket, id: id)
        case .connect(let target): serveConnect(stream, socket: socket, from: id, to: target)
        case .accept(let token): serveAccept(stream, socket: socket, id: id, token: token)
        }
    }

    private func serveListener(_ stream: TLSStream, socket: Socket, id: EndpointId) {
        let previous = monitor.withLock {
            let previous = listeners[id]
            listeners[id] = stream
            return previous
        }
        previous?.shutdown()  // the newer registration wins (the server moved networks)
        logger.info("\(id) listening from \(socket.peer)")
        socket.setReceiveTimeout(seconds: limits.listenerIdleSeconds)
        do {
            try stream.writeAll(RelayToEndpoint.accepted.encoded)
            while true {
                let (kind, payload) = try RelayMessageReader.read(from: stream)
                guard try EndpointToRelay(kind: kind, payload: payload) == .ping else {
                    throw RelayError.unexpected("a second registration")
                }
                try stream.writeAll(RelayToEndpoint.pong.encoded)
            }
        } catch {
            logger.info("\(id) stopped listening: \(error)")
        }
        monitor.withLock { if listeners[id] === stream { listeners[id] = nil } }
    }

    private func serveConnect(_ stream: TLSStream, socket: Socket, from: EndpointId, to target: EndpointId) {
        let token = Sodium.randomBytes(RelayWire.tokenLength)
        let entry = Pending(client: stream, from: from, target: target)
        defer {
            monitor.withLock {
                entry.done = true
                monitor.broadcast()
            }
        }
        let server: (any ByteStream)? = monitor.withLock {
            guard let server = listeners[target] else { return nil }
            pending[token] = entry
            return server
        }
        guard let server else {
            try? stream.writeAll(RelayToEndpoint.refused("\(target) is not connected to this relay").encoded)
            return
        }
        do { try server.writeAll(RelayToEndpoint.incoming(token: token, from: from).encoded) } catch {
            server.shutdown()
        }
        let acceptor: (any ByteStream)? = monitor.withLock {
            let deadline = monotonicSeconds() + limits.acceptSeconds
            while entry.acceptor == nil, monotonicSeconds() < deadline {
                monitor.wait(seconds: deadline - monotonicSeconds())
            }
            pending[token] = nil
            return entry.acceptor
        }
        guard let acceptor else {
            try? stream.writeAll(RelayToEndpoint.refused("\(target) did not answer").encoded)
            return
        }
        socket.setReceiveTimeout(seconds: limits.spliceIdleSeconds)
        do {
            try stream.writeAll(RelayToEndpoint.accepted.encoded)
            try acceptor.writeAll(RelayToEndpoint.accepted.encoded)
        } catch {
            acceptor.shutdown()
            return
        }
        logger.info("splicing \(from) to \(target)")
        splice(stream, acceptor)
        logger.info("splice \(from) to \(target) ended")
    }

    private func serveAccept(_ stream: TLSStream, socket: Socket, id: EndpointId, token: [UInt8]) {
        // Before the splice can start reading: idle for `spliceIdleSeconds` ends it.
        socket.setReceiveTimeout(seconds: limits.spliceIdleSeconds)
        let entry: Pending? = monitor.withLock {
            guard let entry = pending[token], entry.target == id, entry.acceptor == nil else { return nil }
            entry.acceptor = stream
            monitor.broadcast()
            return entry
        }
        guard let entry else {
            try? stream.writeAll(RelayToEndpoint.refused("no client is waiting for this token").encoded)
            return
        }
        // The connecting side's thread splices; this one keeps the connection open (and
        // counted against its endpoint) until the splice ends.
        monitor.withLock {
            while !entry.done { monitor.wait() }
        }
    }

    /// Copies both ways until either side ends, then closes both.
    private func splice(_ a: any ByteStream, _ b: any ByteStream) {
        let size = limits.spliceBuffer
        guard let other = try? OSThread.start(name: "splice", { Self.copy(from: b, to: a, bufferSize: size) }) else {
            logger.warning("splice: no thread for the second direction; closing both ends")
            a.shutdown()
            b.shutdown()
            return
        }
        Self.copy(from: a, to: b, bufferSize: size)
        other.join()
    }

    private static func copy(from source: any ByteStream, to sink: any ByteStream, bufferSize: Int) {
        var buffer = [UInt8](repeating: 0, count: bufferSize)
        while true {
            guard let n = try? source.read(into: &buffer), n > 0, (try? sink.writeAll(buffer[0..<n])) != nil else {
                break
            }
        }
        source.shutdown()
        sink.shutdown()
    }
}
