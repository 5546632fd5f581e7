import ArgumentParser
import AttachStatus
import CLISupport
import Config
import Identity
import Pairing
import Secure
import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// `usbp2p-client pair CODE`: become one of a server's clients.
struct PairCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pair",
        abstract: "Pair with a server, using the pairing code on its label.",
        discussion: """
            Press the button on the appliance first (its LED blinks fast while pairing is \
            open, two minutes), then run this with the code from its label: the text \
            (groups like abcd-efgh-...) or the usbp2p://pair/... URI its QR code holds. \
            The server is found on the LAN by mDNS, at --address, or through the relay: \
            --relay, relay.address, or the relay the URI names (a label printed with \
            usbp2pd's relay.address set carries it). How the server was reached is kept \
            (state_directory/ways), so attach and list find it again with no settings. \
            This client proves it knows the secret in the code, bound to this one encrypted \
            connection, and the server adds it to its allowlist; the server is added to \
            this client's peers ('peers'). Three wrong secrets close the pairing window.
            """)

    @OptionGroup var options: CommonOptions
    @OptionGroup var relayOptions: RelayOptions

    @Argument(help: ArgumentHelp("The pairing code (text or URI).", valueName: "code")) var code: String

    @Option(help: ArgumentHelp("The server's address, if it is not found by itself.", valueName: "host[:port]"))
    var address: String?

    @Option(
        help: ArgumentHelp(
            "The name the server will know this client by (default: name, or user@host).", valueName: "name"))
    var name: String?

    @Flag(help: "Print JSON: {\"paired\": true, \"server\": {\"id\", \"name\"}} or {\"paired\": false, \"error\"}.")
    var json = false

    func validate() throws {
        do throws(PairingCodeError) { _ = try PairingCode(parsing: code) } catch {
            throw ValidationError("\(error)")
        }
        if let address { _ = try ServerAddress.endpoint(address) }
        if let name, name.utf8.count > PairingRequest.maxNameBytes || name.contains(where: \.isNewline) {
            throw ValidationError("--name: one line of at most \(PairingRequest.maxNameBytes) bytes")
        }
    }

    func run() throws {
        if options.config == nil {  // the laptop's service pairs, when it runs
            var arguments = Array(CommandLine.arguments.drop { $0 != "pair" }.dropFirst())
            if name == nil { arguments += ["--name", defaultName()] }
            let config = try options.loadConfig(for: Client.self)
            if let reply = try ServiceConnection.ask("pair", arguments, socketPath: config.string("service.socket")) {
                try ServiceConnection.finish(with: reply)
            }
        }
        let config = try options.loadConfig(for: Client.self)
        let log = options.logger(for: Client.self, config: config)
        let identity = try loadIdentity(config: config, log: log)
        let pairing = try! PairingCode(parsing: code)  // checked in validate()
        let server = ServerAddress(id: pairing.server, direct: try ServerAddress.endpoint(address))
        let hinted = pairing.hints.map { PeerWays.Ways(relay: $0.relay, relayId: $0.relayId) }
        let (relay, relayId, mdns) = try ServerConnection.reachSettings(
            relay: relayOptions.relay, config: config, remembered: hinted)
        guard server.direct != nil || relay != nil || mdns else {
            throw CLIError("no way to reach the server: give --address host:port or a relay (--relay, relay.address)")
        }
        let myName = name ?? (config.string("name").isEmpty ? defaultName() : config.string("name"))
        do {
            let transport = try ServerConnection.dialer(
                for: server, relay: relay, relayId: relayId, mdns: mdns, config: config, identity: identity)()
            let context = try TLSContext(
                clientFor: pairing.server, identity: identity, protocols: [PairingExchange.alpn])
            transport.stream.setReceiveTimeout(seconds: 15)
            let stream = try TLSStream(socket: transport.stream, context: context)
            defer { stream.close() }
            let reply = try PairingExchange.request(over: stream, secret: pairing.secret, name: myName)
            guard reply.status == .paired else { throw CLIError("pairing refused: \(reply.text)") }
            let serverName = reply.text.isEmpty ? "server" : reply.text
            var peers = try Peers.load(config)
            peers.add(pairing.server, name: serverName, added: todayUTC())
            do throws(AllowlistError) { try peers.save(to: Peers.path(config)) } catch {
                throw CLIError("paired, but this client could not save its peers: \(error)")
            }
            // How it was reached, for attach and list (a failure here costs only that).
            do {
                var ways = try Ways.load(config)
                ways[pairing.server] = PeerWays.Ways(
                    relay: relay.map { "\($0)" }, relayId: relayId, direct: server.direct.map { ["\($0)"] } ?? [])
                try Ways.save(ways, config)
            } catch {
                log.warning("paired, but the ways to the server were not saved: \(error)")
            }
            if json {
                print(
                    "{\"paired\":true,\"server\":{\"id\":\(AttachStatus.quote("\(pairing.server)")),\"name\":\(AttachStatus.quote(serverName))},\"path\":\(AttachStatus.quote(transport.path))}"
                )
            } else {
                print("paired with \(serverName) (\(pairing.server)) over \(transport.path)")
                print("next: usbp2p-client attach   (or: usbp2p-client list)")
            }
        } catch {
            let message: String
            switch error {
            case let error as CLIError: message = error.description
            case TLSError.peerRefused(let why): message = "refusing the server: \(why)"
            default: message = "cannot pair with \(pairing.server): \(error)"
            }
            if json {
                print("{\"paired\":false,\"error\":\(AttachStatus.quote(message))}")
                throw ExitCode.failure
            }
            throw CLIError(message)
        }
    }

    /// user@host, for the server's allowlist.
    private func defaultName() -> String {
        let user = getenv("SUDO_USER").map { String(cString: $0) } ?? getenv("USER").map { String(cString: $0) } ?? ""
        let host = hostName()
        return user.isEmpty ? host : "\(user)@\(host)"
    }
}

/// `usbp2p-client peers`: the servers this client has paired with.
struct PeersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peers",
        abstract: "List the servers this client has paired with.",
        discussion:
            "Kept in state_directory/peers. Commands that take a server accept a peer's name, or the start of its EndpointId."
    )

    @OptionGroup var options: CommonOptions

    @Flag(help: "Print JSON: {\"peers\": [{\"id\", \"name\", \"paired\"}]}.") var json = false

    func run() throws {
        try ServiceConnection.forward("peers", options: options)
        let config = try options.loadConfig(for: Client.self)
        let peers = try Peers.load(config)
        if json {
            let items = peers.entries.map {
                "{\"id\":\(AttachStatus.quote("\($0.id)")),\"name\":\(AttachStatus.quote($0.name)),\"paired\":\(AttachStatus.quote($0.added))}"
            }
            print("{\"peers\":[\(items.joined(separator: ","))]}")
            return
        }
        if peers.entries.isEmpty {
            print("no server is paired yet: press the button on the appliance, then usbp2p-client pair CODE")
        }
        for entry in peers.entries {
            print(
                "\(entry.name.isEmpty ? "(no name)" : entry.name)  \(entry.id)\(entry.added.isEmpty ? "" : "  paired \(entry.added)")"
            )
        }
    }
}

/// `usbp2p-client forget PEER`: drop a paired server.
struct ForgetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forget",
        abstract: "Forget a paired server (this client only; the server keeps it on its allowlist until cleared).")

    @OptionGroup var options: CommonOptions

    @Argument(help: ArgumentHelp("The server: its name, or its EndpointId or the start of it.", valueName: "server"))
    var server: String

    func run() throws {
        try ServiceConnection.forward("forget", options: options)
        let config = try options.loadConfig(for: Client.self)
        var peers = try Peers.load(config)
        let entry: Allowlist.Entry
        switch peers.find(server) {
        case .success(let found): entry = found
        case .failure(let error): throw CLIError("\(error)")
        }
        peers.remove(entry.id)
        do throws(AllowlistError) { try peers.save(to: Peers.path(config)) } catch { throw CLIError("\(error)") }
        var ways = try Ways.load(config)
        if ways[entry.id] != nil {
            ways[entry.id] = nil
            try Ways.save(ways, config)
        }
        print("forgot \(entry.name.isEmpty ? "" : "\(entry.name) ")(\(entry.id))")
    }
}
