import ArgumentParser
import CLISupport
import Config
import Identity
import LocalDiscovery
import Log
import OSThreads
import Reach
import Relay
import Secure
import Session
import Sockets

/// A server as the user names it: `EndpointId@host:port` (direct, e.g. on a LAN), the
/// EndpointId alone (found on the LAN by mDNS, or through the relay), or the name of a
/// paired server (its name or the start of its EndpointId, optionally `@host:port`).
struct ServerAddress: Sendable {
    let id: EndpointId
    let direct: Endpoint?

    static let defaultPort: UInt16 = 7575

    init(id: EndpointId, direct: Endpoint?) {
        self.id = id
        self.direct = direct
    }

    /// An EndpointId, with an address or not; a name needs `resolve`.
    init(parsing text: String) throws {
        let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
        do throws(EndpointIdError) { id = try EndpointId(parsing: parts.first ?? "") } catch {
            throw ValidationError("the server '\(parts.first ?? "")' is \(error)")
        }
        direct = try Self.endpoint(parts.count == 2 ? parts[1] : nil)
    }

    static func endpoint(_ text: String?) throws -> Endpoint? {
        guard let text else { return nil }
        guard let endpoint = Endpoint(parsing: text, defaultPort: Self.defaultPort) else {
            throw ValidationError("'\(text)': expected host[:port] with a numeric address")
        }
        return endpoint
    }

    /// Whether `text` could name a server, so a command can tell it from a device.
    static func looksLikeServer(_ text: String, peers: PeerList) -> Bool {
        if (try? ServerAddress(parsing: text)) != nil { return true }
        let name = String(text.split(separator: "@", maxSplits: 1).first ?? "")
        return (try? peers.find(name).get()) != nil
    }

    /// The server `text` names, or the only paired server when `text` is nil.
    static func resolve(_ text: String?, peers: PeerList) throws -> ServerAddress {
        guard let text else {
            switch peers.entries.count {
            case 0:
                throw ValidationError(
                    "no server is paired yet: pair with one first (usbp2p-client pair CODE), or name one by EndpointId")
            case 1: return ServerAddress(id: peers.entries[0].id, direct: nil)
            default:
                throw ValidationError(
                    "several servers are paired (\(peers.entries.map { $0.name.isEmpty ? "\($0.id)" : $0.name }.joined(separator: ", "))): name one"
                )
            }
        }
        if let address = try? ServerAddress(parsing: text) { return address }
        let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
        switch peers.find(parts[0]) {
        case .success(let entry):
            return ServerAddress(id: entry.id, direct: try endpoint(parts.count == 2 ? parts[1] : nil))
        case .failure(let error):
            // Something as long as an EndpointId was meant as one: say what is wrong with it.
            if parts[0].count >= EndpointId.textLength - 6 { _ = try ServerAddress(parsing: text) }
            throw ValidationError("\(error)")
        }
    }
}

/// The names the server gave its devices (USB/IP's device list has none), by bus id: it
/// sends them when the session starts, ahead of any reply, and again after each change.
final class DeviceNames: @unchecked Sendable {
    private let monitor = Monitor()
    private var names: [String: String] = [:]

    /// Keeps the names of a `deviceNames` message; other messages pass. True when the
    /// names changed (a device chosen by name may match now).
    @discardableResult
    func take(_ message: ControlMessage) -> Bool {
        guard case .deviceNames(let list) = message else { return false }
        // The server's words, for a terminal: escaped before anything shows them.
        let new = Dictionary(list.map { ($0.busid, displaySafe($0.name, maxLength: 128)) }) { _, last in last }
        return monitor.withLock {
            defer { names = new }
            return names != new
        }
    }

    func name(of busid: String) -> String? { monitor.withLock { names[busid] } }
    var all: [String: String] { monitor.withLock { names } }
}

/// A server's answer that one of the session's threads delivers and a command waits for.
final class Awaited<Value>: @unchecked Sendable {
    private let monitor = Monitor()
    private var value: Value?

    /// Keeps the first value delivered; later ones are dropped.
    func deliver(_ new: Value) {
        monitor.withLock {
            guard value == nil else { return }
            value = new
            monitor.broadcast()
        }
    }

    /// The value, once delivered; nil if none came within `seconds`.
    func wait(seconds: Double) -> Value? {
        monitor.withLock {
            monitor.wait(until: monotonicSeconds() + seconds) { value != nil }
            return value
        }
    }
}

/// The client's paired servers (state_directory/peers).
enum Peers {
    static func path(_ config: ConfigFile) -> String { "\(config.string("state_directory"))/peers" }

    static func load(_ config: ConfigFile) throws -> PeerList {
        do throws(AllowlistError) { return try PeerList.load(from: path(config)) } catch { throw CLIError("\(error)") }
    }
}

/// How each paired server was reached (state_directory/ways).
enum Ways {
    static func path(_ config: ConfigFile) -> String { "\(config.string("state_directory"))/ways" }

    static func load(_ config: ConfigFile) throws -> PeerWays {
        do throws(PeerWaysError) { return try PeerWays.load(from: path(config)) } catch { throw CLIError("\(error)") }
    }

    static func save(_ ways: PeerWays, _ config: ConfigFile) throws {
        do throws(PeerWaysError) { try ways.save(to: path(config)) } catch { throw CLIError("\(error)") }
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
        let keeper = WaysKeeper(server: server.id, config: config, log: log)
        let (relay, relayId, mdns) = try reachSettings(relay: option, config: config, remembered: keeper.remembered)
        let rememberedDirect = (keeper.remembered?.direct ?? []).compactMap { Endpoint(parsing: $0, defaultPort: 0) }
        guard server.direct != nil || relay != nil || mdns || !rememberedDirect.isEmpty else {
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
                keeper.learned(upgrader.knownDirect)  // the addresses the server sent
            }
        }
        let dial = dialer(
            for: server, relay: relay, relayId: relayId, mdns: mdns, config: config, identity: identity,
            knownDirect: {
                let learned = upgrader?.knownDirect ?? []
                return learned + rememberedDirect.filter { !learned.contains($0) }
            })
        let client = SessionClient(
            peerName: name, configuration: configuration, logger: log, events: sessionEvents, replaced: replaced
        ) {
            let transport = try dial()
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

    /// A one-off command's session (list, share, audit) with the paired server `name`
    /// names (or the only one), as this configuration's identity, through the relay given
    /// or the server's usual ways; a session that does not start says why. The caller
    /// stops the client.
    static func commandSession(
        with name: String?, options: CommonOptions, relay: String?, events: SessionEvents
    ) throws -> (client: SessionClient, session: Session) {
        let config = try options.loadConfig(for: Client.self)
        let log = options.logger(for: Client.self, config: config)
        let identity = try loadIdentity(config: config, log: log)
        let address = try ServerAddress.resolve(name, peers: try Peers.load(config))
        let client = try Self.client(
            for: address, relay: relay, config: config, identity: identity, log: log, events: events)
        do { return (client, try client.start()) } catch {
            throw explain(error, server: address, identity: identity)
        }
    }

    /// Where to look for the server: the relay given (--relay), else the configured one,
    /// else the one remembered for it (or named by its pairing code); mDNS.
    static func reachSettings(relay option: String?, config: ConfigFile, remembered: PeerWays.Ways? = nil) throws
        -> (relay: Endpoint?, relayId: EndpointId?, mdns: Bool)
    {
        let configured = option ?? config.string("relay.address")
        if !configured.isEmpty {
            let relay = Endpoint(parsing: configured, defaultPort: 443)
            let relayId = config.string("relay.id").isEmpty ? nil : try EndpointId(parsing: config.string("relay.id"))
            return (relay, relayId, config.boolean("lan.mdns"))
        }
        let relay = remembered?.relay.flatMap { Endpoint(parsing: $0, defaultPort: 443) }
        return (relay, relay == nil ? nil : remembered?.relayId, config.boolean("lan.mdns"))
    }

    /// One connection to the server, before TLS: its given address, the addresses that
    /// worked before, the LAN by mDNS and the relay, raced; the first to answer wins.
    static func dialer(
        for server: ServerAddress, relay: Endpoint?, relayId: EndpointId?, mdns: Bool, config: ConfigFile,
        identity: EndpointIdentity, knownDirect: @escaping @Sendable () -> [Endpoint] = { [] }
    ) -> @Sendable () throws -> Transport {
        {
            // Direct addresses first (the one given, and ones that worked before), the relay
            // a moment later: whichever answers first carries the session.
            var attempts: [@Sendable () throws -> Transport] = []
            for address in ([server.direct].compactMap { $0 } + knownDirect()) {
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
            // The relay half a second after the direct attempts: an mDNS answer on a LAN comes
            // well within it.
            do {
                return try FirstOf.run(attempts, stagger: 0.5) { $0.stream.close() }
            } catch let failed as FirstOf.AllFailed {
                throw failed.errors.count == 1 ? ConnectError(failed.errors[0]) : ConnectError(failed.description)
            }
        }
    }

    /// Keeps the ways file up to date with the direct addresses a server sends.
    final class WaysKeeper: @unchecked Sendable {
        let server: EndpointId
        let config: ConfigFile
        let log: Logger
        /// The ways remembered for the server when the connection was set up.
        let remembered: PeerWays.Ways?
        private let lock = Monitor()
        private var saved: [String]

        init(server: EndpointId, config: ConfigFile, log: Logger) {
            self.server = server
            self.config = config
            self.log = log
            remembered = (try? Ways.load(config))?[server]
            saved = remembered?.direct ?? []
        }

        func learned(_ addresses: [Endpoint]) {
            let direct = Array(addresses.map { "\($0)" }.prefix(PeerWays.maxDirect))
            guard !direct.isEmpty else { return }
            lock.withLock {
                guard direct != saved else { return }
                do {
                    var ways = try Ways.load(config)
                    var entry = ways[server] ?? PeerWays.Ways()
                    entry.direct = direct
                    ways[server] = entry
                    try Ways.save(ways, config)
                    saved = direct
                } catch {
                    log.info("the server's addresses were not remembered: \(error)")
                }
            }
        }
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
                "the server refused this client (\(detail)). Is it paired? Press the server's button and run "
                    + "'usbp2p-client pair CODE' (or, on the server: usbp2pd allow \(identity.endpointId))")
        case TLSError.peerRefused(let why):
            return CLIError("refusing the server: \(why)")
        default:
            return CLIError("cannot reach \(server.id): \(error)")
        }
    }
}
