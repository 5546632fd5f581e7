import ArgumentParser
import CLISupport
import Config
import Identity
import LocalDiscovery
import Log
import Reach
import Relay
import Secure
import Session
import Sockets

/// A server as the user names it: `EndpointId@host:port` (direct, e.g. on a LAN), or the
/// EndpointId alone (reached through the relay).
struct ServerAddress: Sendable {
    let id: EndpointId
    let direct: Endpoint?

    static let defaultPort: UInt16 = 7575

    init(parsing text: String) throws {
        let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
        do throws(EndpointIdError) { id = try EndpointId(parsing: parts.first ?? "") } catch {
            throw ValidationError("the server '\(parts.first ?? "")' is \(error)")
        }
        if parts.count == 2 {
            guard let endpoint = Endpoint(parsing: parts[1], defaultPort: Self.defaultPort) else {
                throw ValidationError("'\(parts[1])': expected host[:port] with a numeric address")
            }
            direct = endpoint
        } else {
            direct = nil
        }
    }
}

/// Options for reaching a server through a session.
struct RelayOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The relay (overrides relay.address).", valueName: "host:port"))
    var relay: String?

    func validate() throws {
        if let relay, Endpoint(parsing: relay, defaultPort: 443) == nil {
            throw ValidationError("--relay: expected host:port with a numeric address, got '\(relay)'")
        }
    }
}

/// Builds the session client for a server: TCP to it or to the relay, then mutual TLS
/// pinned to its EndpointId.
enum ServerConnection {
    static let alpn = "usbp2p/1"

    /// - Parameter upgrade: look for a direct path while on the relay, and move the
    ///   session onto it (attach does; a one-off list does not need to).
    static func client(
        for server: ServerAddress, relay option: String?, config: ConfigFile, identity: EndpointIdentity, log: Logger,
        upgrade: Bool = false, events: SessionEvents = .init(),
        replaced: @escaping @Sendable (Session) -> Void = { _ in }
    ) throws -> SessionClient {
        let tls = try TLSContext(clientFor: server.id, identity: identity, protocols: [alpn])
        let relayText = option ?? config.string("relay.address")
        let relay = relayText.isEmpty ? nil : Endpoint(parsing: relayText, defaultPort: 443)
        let relayId = config.string("relay.id").isEmpty ? nil : try EndpointId(parsing: config.string("relay.id"))
        let mdns = config.boolean("lan.mdns")
        guard server.direct != nil || relay != nil || mdns else {
            throw CLIError(
                "no way to reach \(server.id): give its address (\(server.id)@host:port) or a relay "
                    + "(--relay host:port, or relay.address in \(config.path))")
        }
        var configuration = SessionConfiguration()
        configuration.grace = Double(config.integer("session.grace_seconds"))
        let name =
            server.direct.map { "\(server.id.description.prefix(8))… at \($0)" }
            ?? "\(server.id.description.prefix(8))…"
        let upgrader: PathUpgrader? =
            upgrade && config.boolean("reach.direct")
            ? PathUpgrader(logger: log) { socket in
                socket.setReceiveTimeout(seconds: 10)
                return try TLSStream(socket: socket, context: tls)
            } : nil
        var sessionEvents = events
        if let upgrader {
            let control = events.control
            sessionEvents.control = { message, session in
                upgrader.handle(message, in: session)
                control(message, session)
            }
        }
        let client = SessionClient(
            peerName: name, configuration: configuration, logger: log, events: sessionEvents, replaced: replaced
        ) {
            // Direct addresses first (the one given, and ones that worked before), the relay
            // a moment later: whichever answers first carries the session.
            var attempts: [@Sendable () throws -> Transport] = []
            for address in ([server.direct].compactMap { $0 } + (upgrader?.knownDirect ?? [])) {
                attempts.append {
                    let socket = try TCP.connect(to: address, timeoutSeconds: 5)
                    socket.setReceiveTimeout(seconds: 10)
                    return Transport(stream: socket, path: "direct \(address)", relayPath: nil)
                }
            }
            if mdns && server.direct == nil {
                // On the same LAN, the server answers for its EndpointId by multicast DNS.
                attempts.insert(
                    {
                        let found = MDNSBrowser.find(id: server.id.description, within: 1.5)
                        guard !found.isEmpty else {
                            throw ConnectError(
                                relay == nil
                                    ? "not found on the LAN by mDNS, and no relay is configured "
                                        + "(--relay host:port, or relay.address in \(config.path))"
                                    : "not found on the LAN by mDNS")
                        }
                        let dials: [@Sendable () throws -> Transport] = found.map { address in
                            {
                                let socket = try TCP.connect(to: address, timeoutSeconds: 3)
                                socket.setReceiveTimeout(seconds: 10)
                                return Transport(stream: socket, path: "direct \(address) (LAN, mDNS)", relayPath: nil)
                            }
                        }
                        return try FirstOf.run(dials, stagger: 0) { $0.stream.close() }
                    }, at: 0)
            }
            if let relay {
                attempts.append {
                    let (stream, observed) = try RelayClient.register(
                        .connect(target: server.id), at: relay, relayId: relayId, identity: identity, localPort: 0)
                    let port = (stream.socket as? Socket).flatMap { TCP.localEndpoint(of: $0)?.port }
                    let seen = Endpoint(parsing: observed, defaultPort: 0)
                    return Transport(
                        stream: stream, path: "relay \(relay)",
                        relayPath: port.flatMap { p in seen.map { PathUpgrader.RelayPath(localPort: p, observed: $0) } }
                    )
                }
            }
            let transport: Transport
            // The relay half a second after the direct attempts: an mDNS answer on a LAN comes
            // well within it.
            do {
                transport = try FirstOf.run(attempts, stagger: 0.5) { $0.stream.close() }
            } catch let failed as FirstOf.AllFailed {
                throw failed.errors.count == 1 ? ConnectError(failed.errors[0]) : ConnectError(failed.description)
            }
            upgrader?.connecting(through: transport.relayPath)
            do {
                return (try TLSStream(socket: transport.stream, context: tls), transport.path)
            } catch {
                transport.stream.close()
                throw error
            }
        }
        upgrader?.manage(client)
        return client
    }

    /// A connection before TLS, and how it runs.
    struct Transport: Sendable {
        let stream: any ByteStream
        let path: String
        let relayPath: PathUpgrader.RelayPath?
    }

    /// Why no path answered.
    struct ConnectError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The first connection's failure, said for a person.
    static func explain(_ error: any Error, server: ServerAddress, identity: EndpointIdentity) -> CLIError {
        switch error {
        case TLSError.recordFailed(let detail) where detail.contains("alert"):
            return CLIError(
                "the server refused this client (\(detail)). Is it on the server's allowlist? "
                    + "On the server: usbp2pd allow \(identity.endpointId)")
        case TLSError.peerRefused(let why):
            return CLIError("refusing the server: \(why)")
        default:
            return CLIError("cannot reach \(server.id): \(error)")
        }
    }
}
