import ArgumentParser
import AttachStatus
import Bridge
import CLISupport
import ClientControl
import Config
import DeviceChoice
import FileSystem
import Identity
import OSThreads
import Session
import Sockets
import USBIP

#if canImport(Glibc)
    import Glibc
#endif

/// `usbp2p-client bridge`: a paired server's devices as a plain USB/IP server on this
/// laptop, for USB/IP clients other than this laptop's vhci_hcd.
struct BridgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bridge",
        abstract: "Serve a paired server's devices to any USB/IP client on this machine (usbip-win2, usbip attach).",
        discussion: """
            Through the laptop's service: it listens on 127.0.0.1:3240 (or --listen) as a \
            USB/IP server would, and each import goes on to the server through the encrypted \
            session. Devices: the ones named (part of the name, VID:PID or bus id), or every \
            device but keyboards. On Windows, run this in WSL2: 'usbip attach -r localhost -b \
            BUSID' there reaches it. Without arguments it shows the bridge that runs, or starts \
            one for the only paired server; --stop ends it and its imports. On this laptop it serves root and the \
            usbp2p group's members only. A USB/IP server has no encryption and no authentication: beyond \
            loopback, anyone who reaches the address uses the devices.
            """)

    @OptionGroup var options: CommonOptions

    @Option(help: ArgumentHelp("Listen on this address instead of 127.0.0.1:3240.", valueName: "host:port"))
    var listen: String?

    @Flag(help: "Stop the bridge (of the server named, or every bridge).") var stop = false

    @Argument(help: ArgumentHelp("A server (name or EndpointId), then devices.", valueName: "server|device"))
    var words: [String] = []

    func validate() throws {
        if let listen, let problem = ConfigChecks.listenAddress(.string(listen)) {
            throw ValidationError("--listen: \(problem)")
        }
        if stop, listen != nil { throw ValidationError("--stop takes no --listen") }
    }

    func run() throws {
        let config = try options.loadConfig(for: Client.self)
        var arguments = words
        if let listen { arguments += ["--listen", listen] }
        if stop { arguments.append("--stop") }
        guard let reply = try ServiceConnection.ask("bridge", arguments, socketPath: config.string("service.socket"))
        else { throw CLIError(ServiceConnection.startHint) }
        try ServiceConnection.finish(with: reply)
    }
}

/// The bridges the service runs: one per server at most.
final class BridgeTable: @unchecked Sendable {
    private let monitor = Monitor()
    private var bridges: [EndpointId: USBIPBridge] = [:]

    func bridge(for server: EndpointId) -> USBIPBridge? { monitor.withLock { bridges[server] } }
    func has(_ server: EndpointId) -> Bool { monitor.withLock { bridges[server] != nil } }
    var all: [(server: EndpointId, bridge: USBIPBridge)] {
        monitor.withLock { bridges.map { (server: $0.key, bridge: $0.value) } }
    }

    func put(_ bridge: USBIPBridge, for server: EndpointId) { monitor.withLock { bridges[server] = bridge } }

    func remove(_ server: EndpointId) -> USBIPBridge? { monitor.withLock { bridges.removeValue(forKey: server) } }

    func removeAll() -> [(server: EndpointId, bridge: USBIPBridge)] {
        monitor.withLock {
            defer { bridges.removeAll() }
            return bridges.map { (server: $0.key, bridge: $0.value) }
        }
    }
}

extension ClientService {
    static let bridgeDefault = Endpoint(host: "127.0.0.1", port: 3240)

    /// Who on this laptop may use a bridge: those who may use the service itself (root,
    /// the service's own user and the members of its group), as its socket allows.
    static let mayUseBridge: @Sendable (uid_t) -> Bool = { uid in
        uid == 0 || uid == geteuid() || LocalPeer.isMember(uid: uid, ofGroup: ServiceSocket.group)
    }

    /// bridge [SERVER] [DEVICE...] [--listen HOST:PORT] | bridge [SERVER] --stop
    func bridge(_ arguments: [String]) -> ServiceReply {
        var words: [String] = []
        var listen: String?
        var stop = false
        var rest = arguments[...]
        while let word = rest.popFirst() {
            switch word {
            case "--stop": stop = true
            case "--listen":
                guard let value = rest.popFirst() else { return .failure("--listen needs an address, 127.0.0.1:3240") }
                listen = value
            case let option where option.hasPrefix("-"):
                return .failure("bridge takes [SERVER] [DEVICE...] [--listen HOST:PORT] [--stop], not \(option)")
            default: words.append(word)
            }
        }
        let peers: PeerList
        do { peers = try Peers.load(config) } catch { return .failure("\(error)") }
        let named = Self.takeServer(from: &words, peers: peers)
        if stop {
            guard words.isEmpty, listen == nil else { return .failure("bridge --stop takes a server at most") }
            return stopBridges(of: named, peers: peers)
        }
        let server: ServerAddress
        do { server = try ServerAddress.resolve(named, peers: peers) } catch { return .failure("\(error)") }
        if words.isEmpty, listen == nil, let running = bridges.bridge(for: server.id) {
            return ServiceReply(status: 0, standardOutput: describe(running, of: server.id, peers: peers))
        }
        var endpoint = Self.bridgeDefault
        if let listen {
            if let problem = ConfigChecks.listenAddress(.string(listen)) { return .failure("--listen: \(problem)") }
            guard let parsed = Endpoint(parsing: listen, defaultPort: 3240) else {
                return .failure("--listen: \(listen) is not an address and port")
            }
            endpoint = parsed
        }
        // A bridge of this server that runs already makes way for the new one.
        bridges.remove(server.id)?.stop()
        let keeper = keep(server.id)
        let bridge: USBIPBridge
        do {
            bridge = try USBIPBridge(
                settings: .init(
                    endpoint: endpoint, devices: words.map(DeviceSelector.parse), localUsers: Self.mayUseBridge),
                upstream: keeper, log: log)
            try bridge.start()
        } catch {
            dropKeeperIfUnwished(server.id)
            let taken =
                (error as? SystemError)?.errno == EADDRINUSE
                ? " (a bridge of another server, or another USB/IP server, listens there: --listen HOST:PORT "
                    + "takes another port)" : ""
            return .failure("the bridge cannot listen on \(endpoint): \(error)\(taken)")
        }
        bridges.put(bridge, for: server.id)
        log.notice("bridge for \(server.id) on \(bridge.endpoint)")
        var warning = ""
        if !bridge.endpoint.isLoopback {
            warning =
                "warning: USB/IP on \(bridge.endpoint) has no encryption and no authentication: anyone who can "
                + "reach it can use the devices it serves\n"
            log.warning("bridge on \(bridge.endpoint) is reachable beyond this machine, without authentication")
        }
        return ServiceReply(
            status: 0, standardOutput: describe(bridge, of: server.id, peers: peers), standardError: warning)
    }

    private func stopBridges(of named: String?, peers: PeerList) -> ServiceReply {
        var stopped: [(server: EndpointId, bridge: USBIPBridge)] = []
        if let named {
            let server: ServerAddress
            do { server = try ServerAddress.resolve(named, peers: peers) } catch { return .failure("\(error)") }
            if let bridge = bridges.remove(server.id) { stopped = [(server.id, bridge)] }
        } else {
            stopped = bridges.removeAll()
        }
        if stopped.isEmpty { return .failure("no bridge runs\(named.map { " for \($0)" } ?? "")") }
        var lines = ""
        for (server, bridge) in stopped {
            bridge.stop()
            dropKeeperIfUnwished(server)
            lines +=
                "stopped the bridge on \(bridge.endpoint) for \(displayName(of: server, peers: peers)): "
                + "its imports ended\n"
        }
        return ServiceReply(status: 0, standardOutput: lines)
    }

    /// What the bridge serves now and how to import it.
    func describe(_ bridge: USBIPBridge, of server: EndpointId, peers: PeerList) -> String {
        let chosen =
            bridge.settings.devices.isEmpty
            ? "every device but keyboards" : bridge.settings.devices.map(\.description).joined(separator: ", ")
        var text = "bridge on \(bridge.endpoint) for \(displayName(of: server, peers: peers)): serving \(chosen)\n"
        let host = bridge.endpoint.host.contains(":") ? "[\(bridge.endpoint.host)]" : bridge.endpoint.host
        let port = bridge.endpoint.port == 3240 ? "" : " --tcp-port \(bridge.endpoint.port)"
        do {
            let served = try bridge.servedDevices()
            if served.isEmpty { text += "  no such device offered now: it is served once the server offers it\n" }
            let names = keeper(of: server)?.deviceNames ?? [:]
            for device in served {
                let name = names[device.busid].map { ", \($0)" } ?? ""
                text +=
                    "  \(device.busid) (\(hex4(device.idVendor)):\(hex4(device.idProduct))\(name)): "
                    + "usbip\(port) attach -r \(host) -b \(device.busid)\n"
            }
        } catch {
            text += "  the server's devices are not known now: \(error)\n"
        }
        let counts = bridge.counts
        text += "  imports passed on: \(counts.imported), lists: \(counts.listed), refused: \(counts.refused)\n"
        text += "  session: \(keeper(of: server)?.state ?? "not connected")\n"
        return text
    }

    /// The lines `status` shows for the bridges.
    /// Each bridge for `status --json`: where it listens, for which server, what it did.
    func bridgeJSON(peers: PeerList) -> [String] {
        bridges.all.map { entry in
            let counts = entry.bridge.counts
            return "{\"listen\":\(AttachStatus.quote("\(entry.bridge.endpoint)")),"
                + "\"server\":\(AttachStatus.quote("\(entry.server)")),"
                + "\"name\":\(AttachStatus.quote(displayName(of: entry.server, peers: peers))),"
                + "\"listed\":\(counts.listed),\"imported\":\(counts.imported),\"refused\":\(counts.refused),"
                + "\"path\":\(AttachStatus.quote(keeper(of: entry.server)?.state ?? "not connected"))}"
        }
    }

    func bridgeStatus(peers: PeerList) -> [String] {
        bridges.all.map { entry in
            let counts = entry.bridge.counts
            return "bridge on \(entry.bridge.endpoint) for \(displayName(of: entry.server, peers: peers)): "
                + "\(counts.imported) imports passed on, \(counts.refused) refused; "
                + (keeper(of: entry.server)?.state ?? "not connected")
        }
    }
}

extension ServerKeeper: BridgeUpstream {
    func offeredDevices() throws -> (devices: [ExportedDevice], names: [String: String]) {
        guard let offered = offeredNow(seconds: 20) else {
            throw CLIError("the server is not reachable now (\(state))")
        }
        return (offered, deviceNames)
    }

    func carry(_ client: Socket, request: [UInt8]) throws {
        guard let session = currentSession else {
            client.close()
            throw CLIError("the server is not reachable now (\(state))")
        }
        try session.openChannel(on: client, sending: request)
    }
}
