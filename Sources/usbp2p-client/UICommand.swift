import ArgumentParser
import CLISupport
import ClientControl
import Config
import DeviceChoice
import Identity
import Log
import OSThreads
import TerminalUI
import USBIP

/// `usbp2p-client ui`: a live view of the paired servers and their devices, with keys to
/// attach and detach; everything goes through the laptop's service.
struct UICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ui",
        abstract: "A live view of the paired servers and their devices; attach and detach with keys.",
        discussion: """
            Through the laptop's service: each paired server with its session's path, \
            round trip and throughput, and the devices it offers with what became of each \
            (attached on a port, attaching, offered). ↑ and ↓ select a device, 'a' (or \
            Enter) attaches it and keeps it attached, as 'usbp2p-client attach' does, 'd' \
            detaches it, 'q' or Ctrl-C leaves. While the view is open the service keeps \
            every paired server connected, so their devices show.
            """)

    @OptionGroup var options: CommonOptions

    /// Seconds between refreshes.
    static let refreshSeconds = 1.0

    func run() throws {
        let config = try options.loadConfig(for: Client.self)
        let socketPath = config.string("service.socket")
        guard ServiceConnection.isRunning(socketPath: socketPath) else { throw CLIError(ServiceConnection.startHint) }
        // The group check comes before the terminal is taken over.
        guard let first = try ServiceConnection.ask("view", ["--connect"], socketPath: socketPath) else {
            throw CLIError(ServiceConnection.startHint)
        }
        defer { _ = try? ServiceConnection.ask("view", ["--done"], socketPath: socketPath) }
        let terminal: Terminal
        do { terminal = try Terminal() } catch {
            throw CLIError("usbp2p-client ui needs a terminal on its standard input and output (\(error))")
        }
        defer { terminal.restore() }
        var view = ClientView()
        apply(first, to: &view)
        while true {
            let (rows, columns) = terminal.size
            terminal.show(Screen.frame(view.lines(columns: columns), rows: rows, columns: columns))
            switch terminal.next(within: Self.refreshSeconds) {
            case .interrupted, .key(.character("q")), .key(.character("\u{3}")):
                return
            case .key(.up): view.move(-1)
            case .key(.down): view.move(1)
            case .key(.character("a")), .key(.enter):
                act("attach", &view, terminal: terminal, socketPath: socketPath)
            case .key(.character("d")):
                act("detach", &view, terminal: terminal, socketPath: socketPath)
            case .key, .resized:
                continue
            case .tick:
                apply(try? ServiceConnection.ask("view", [], socketPath: socketPath), to: &view)
            }
        }
    }

    private func apply(_ reply: ServiceReply?, to view: inout ClientView) {
        guard let reply, reply.status == 0, let state = ViewState(json: reply.standardOutput) else {
            view.problem =
                "the service does not answer: \(reply.map { $0.standardError.split(separator: "\n").first.map(String.init) ?? "" } ?? "is it running?")"
            return
        }
        view.update(state, at: monotonicSeconds())
    }

    /// Attaches or detaches the selected device, saying so while the service works.
    private func act(_ command: String, _ view: inout ClientView, terminal: Terminal, socketPath: String) {
        guard let selected = view.selected else {
            view.message = "no device selected"
            return
        }
        view.message = "\(command == "attach" ? "attaching" : "detaching") \(selected.busid)…"
        let (rows, columns) = terminal.size
        terminal.show(Screen.frame(view.lines(columns: columns), rows: rows, columns: columns))
        let arguments = command == "attach" ? [selected.server, selected.busid] : [selected.busid]
        let reply = try? ServiceConnection.ask(command, arguments, socketPath: socketPath)
        let said =
            ((reply?.status == 0 ? reply?.standardOutput : reply?.standardError) ?? "no answer from the service")
            .split(separator: "\n").first.map(String.init) ?? ""
        view.message = displaySafe(said, maxLength: 200)
        apply(try? ServiceConnection.ask("view", [], socketPath: socketPath), to: &view)
    }
}

extension ClientService {
    /// view [--connect | --done]: the state `usbp2p-client ui` draws, as JSON.
    func view(_ arguments: [String]) -> ServiceReply {
        let peers = (try? Peers.load(config)) ?? PeerList()
        switch arguments {
        case ["--connect"]:
            viewers.opened()
            viewerHeard()
            for entry in peers.entries { keep(entry.id) }
        case ["--done"]:
            viewers.closed()
            for entry in peers.entries { dropKeeperIfUnwished(entry.id) }
            return ServiceReply(status: 0)
        case []:
            // A view back from a silence longer than the lease: its servers again.
            if viewers.heard() { for entry in peers.entries { keep(entry.id) } }
            viewerHeard()
        default: return .failure("view takes --connect, --done or nothing")
        }
        let servers = peers.entries.map { entry -> ViewState.Server in
            let name = displayName(of: entry.id, peers: peers)
            guard let keeper = keeper(of: entry.id) else {
                return ViewState.Server(
                    id: "\(entry.id)", name: name, state: "not connected (nothing of it is attached)",
                    roundTripMilliseconds: nil, bytesSent: 0, bytesReceived: 0, devices: [])
            }
            let status = keeper.currentSession?.status
            return ViewState.Server(
                id: "\(entry.id)", name: name, state: keeper.state,
                roundTripMilliseconds: status?.roundTripTime.map { $0 * 1000 }, bytesSent: status?.bytesSent ?? 0,
                bytesReceived: status?.bytesReceived ?? 0, devices: keeper.viewDevices(wishes: wishList(of: entry.id)))
        }
        return ServiceReply(
            status: 0, standardOutput: ViewState(servers: servers, bridges: bridgeStatus(peers: peers)).json + "\n")
    }
}

extension ServerKeeper {
    /// What the server offered when last asked, each with its port here and whether a
    /// wish keeps it.
    func viewDevices(wishes: [Wish]) -> [ViewState.Device] {
        let (offered, ports) = snapshot
        let session = currentSession
        return offered.map { device in
            let port = ports.first { $0.busid == device.busid }?.port
            let bytes = port == nil ? nil : channel(of: device.busid).flatMap { session?.channelBytes($0) }
            return ViewState.Device(
                busid: device.busid, vendor: device.idVendor, product: device.idProduct,
                name: deviceNames[device.busid], port: port, wished: wishes.contains { wish($0, takesIn: device) },
                bytesSent: bytes?.sent, bytesReceived: bytes?.received)
        }
    }
}
