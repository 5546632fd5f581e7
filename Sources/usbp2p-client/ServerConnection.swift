import ArgumentParser
import CLISupport
import Config
import Identity
import Log
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

    static func client(
        for server: ServerAddress, relay option: String?, config: ConfigFile, identity: EndpointIdentity, log: Logger,
        events: SessionEvents = .init(), replaced: @escaping @Sendable (Session) -> Void = { _ in }
    ) throws -> SessionClient {
        let tls = try TLSContext(clientFor: server.id, identity: identity, protocols: [alpn])
        let relayText = option ?? config.string("relay.address")
        let relay = relayText.isEmpty ? nil : Endpoint(parsing: relayText, defaultPort: 443)
        let relayId = config.string("relay.id").isEmpty ? nil : try EndpointId(parsing: config.string("relay.id"))
        guard server.direct != nil || relay != nil else {
            throw CLIError(
                "no way to reach \(server.id): give its address (\(server.id)@host:port) or a relay "
                    + "(--relay host:port, or relay.address in \(config.path))")
        }
        var configuration = SessionConfiguration()
        configuration.grace = Double(config.integer("session.grace_seconds"))
        let name =
            server.direct.map { "\(server.id.description.prefix(8))… at \($0)" }
            ?? "\(server.id.description.prefix(8))… via \(relay!)"
        return SessionClient(
            peerName: name, configuration: configuration, logger: log, events: events, replaced: replaced
        ) {
            let transport: any ByteStream
            if let direct = server.direct {
                let socket = try TCP.connect(to: direct)
                socket.setReceiveTimeout(seconds: 10)
                transport = socket
            } else {
                transport = try RelayClient.register(
                    .connect(target: server.id), at: relay!, relayId: relayId, identity: identity
                ).stream
            }
            return try TLSStream(socket: transport, context: tls)
        }
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
