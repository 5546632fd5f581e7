import ArgumentParser
import AttachStatus
import CLISupport
import Config
import DeviceChoice
import Dispatch
import FileSystem
import Identity
import Log
import OSThreads
import Session
import Sockets
import USBIP
import VHCI

#if canImport(Glibc)
    import Glibc
#endif

/// `usbp2p-client attach`: bring remote devices up on this machine through vhci_hcd.
struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Attach a server's devices, so they appear here as if plugged in; keeps them attached.",
        discussion: """
            'attach DEVICE...' attaches the devices named, by bus id (1-1, as 'list' shows), \
            by VID:PID (046d:c52b) or by part of the name 'list' shows ("SanDisk", any case), \
            and a device the server offers later (plugged in there) too if it matches a name. \
            'attach' alone attaches every device the server offers now, and no device \
            plugged in there later unless --including-new is given. A keyboard is attached \
            only when named: anyone who plugs one into the server would otherwise type here. \
            A server may come first (a paired server's name, an EndpointId, or either \
            @host:port); it may be left out when only one is paired.

            attach keeps running: it holds the session to the server (found on the LAN by \
            mDNS, at the address given, or through the relay), moves it to a direct path \
            when one is found and back to the relay if that path dies (each path it uses is \
            printed; see also 'status'), resumes it after a network drop without the devices \
            noticing, re-attaches them if the server was out of reach for longer than \
            session.grace_seconds, and detaches them on Ctrl-C or SIGTERM.

            'attach --usbip HOST BUSID' imports one device from a plain USB/IP server (usbp2pd \
            with usbip.enabled, or the kernel's usbipd) and returns: the kernel keeps that \
            connection; 'usbp2p-client detach PORT' ends it.

            Needs root and the vhci-hcd module.
            """)

    @OptionGroup var options: CommonOptions
    @OptionGroup var relayOptions: RelayOptions

    @Option(help: ArgumentHelp("A plain USB/IP server instead (port 3240 if not given).", valueName: "host[:port]"))
    var usbip: String?

    @Option(help: ArgumentHelp("The server, when a device could be taken for one.", valueName: "server"))
    var server: String?

    @Flag(help: "With no device named: also attach devices the server offers later (keyboards still only by name).")
    var includingNew = false

    @Argument(
        help: ArgumentHelp(
            "An optional server, then devices: bus ids (1-1), VID:PID (046d:c52b) or names; none: all. With --usbip, one bus id.",
            valueName: "server/device"))
    var arguments: [String] = []

    /// How long the server may take to answer the import.
    static let replyTimeoutSeconds = 10

    func validate() throws {
        if includingNew, usbip != nil {
            throw ValidationError("--including-new is for a session's devices, not --usbip")
        }
        if let usbip {
            guard Endpoint(parsing: usbip, defaultPort: usbipDefaultPort) != nil else {
                throw ValidationError("--usbip: expected host[:port] with a numeric address, got '\(usbip)'")
            }
            guard arguments.count == 1, server == nil else {
                throw ValidationError("with --usbip, give exactly one bus id")
            }
            guard case .busid = DeviceSelector(arguments[0]) else {
                throw ValidationError("'\(arguments[0])' is not a bus id (digits, '-' and '.', like 1-1 or 3-2.4)")
            }
        }
    }

    func run() throws {
        let config = try options.loadConfig(for: Client.self)
        let log = options.logger(for: Client.self, config: config)
        guard let usbip else {
            if options.config == nil {
                if relayOptions.relay != nil, ServiceConnection.isRunning(socketPath: config.string("service.socket")) {
                    throw CLIError(
                        "the laptop's service reaches servers with its own settings: set relay.address in "
                            + "/etc/usbp2p/client.toml (or pair from a label that names the relay)")
                }
                if let reply = try ServiceConnection.ask(
                    "attach", (server.map { [$0] } ?? []) + arguments + (includingNew ? ["--including-new"] : []),
                    socketPath: config.string("service.socket"))
                {
                    try ServiceConnection.finish(with: reply)
                }
                if getuid() != 0 { throw CLIError(ServiceConnection.startHint) }
            }
            return try attachThroughSession(config: config, log: log)
        }
        let server = Endpoint(parsing: usbip, defaultPort: usbipDefaultPort)!
        let busid = arguments[0]
        do {
            let socket = try TCP.connect(to: server)
            let device = try USBIPClient.importDevice(
                busid: busid, over: socket, timeoutSeconds: Self.replyTimeoutSeconds)
            let port = try VHCI.attach(socketDescriptor: socket.descriptor, device: device)
            // The kernel holds the connection now; this process's descriptor can go.
            socket.close()
            log.info("imported \(busid) from \(server)")
            print(
                "attached \(busid) (\(hex4(device.idVendor)):\(hex4(device.idProduct)), \(device.speed)) from \(server) on port \(port)"
            )
        } catch {
            throw CLIError("\(error)")
        }
    }

    /// The server and the device selectors, from the arguments and the peers.
    func serverAndDevices(peers: PeerList) throws -> (ServerAddress, [DeviceSelector]) {
        var words = arguments[...]
        var named = server
        // The first word names the server if it can (an EndpointId, a paired server's name);
        // the rest, and a first word that cannot, are devices.
        if named == nil, let first = words.first, ServerAddress.looksLikeServer(first, peers: peers) {
            named = first
            words = words.dropFirst()
        }
        let address = try ServerAddress.resolve(named, peers: peers)
        for word in words where word.isEmpty || word.utf8.count > DeviceName.maxName {
            throw ValidationError(
                "'\(word)' is not a device: give a bus id (1-1), VID:PID (046d:c52b) or part of its name")
        }
        let selectors = words.map(DeviceSelector.parse)
        if includingNew, !selectors.isEmpty {
            throw ValidationError(
                "--including-new is for attaching every device; named devices are attached whenever offered already")
        }
        return (address, selectors)
    }

    private func attachThroughSession(config: ConfigFile, log: Logger) throws {
        let stateDirectory = config.string("state_directory")
        for name in AtomicFile.removeStaleTemporaries(in: stateDirectory) {
            log.notice("removed \(stateDirectory)/\(name), a write cut short before this start")
        }
        let identity = try loadIdentity(config: config, log: log)
        let (address, selectors) = try serverAndDevices(peers: try Peers.load(config))
        let scope: DeviceChoice.Scope =
            !selectors.isEmpty ? .named(selectors) : includingNew ? .everyDeviceIncludingNew : .everyDeviceNow
        let attached = AttachedDevices(choice: DeviceChoice(scope: scope), log: log)
        let client = try ServerConnection.client(
            for: address, relay: relayOptions.relay, config: config, identity: identity, log: log, upgrade: true,
            events: SessionEvents(
                control: { message, session in
                    let renamed = attached.names.take(message)
                    // The server's devices changed, or their names did (a device chosen by
                    // name may match now): attach what now matches.
                    if renamed || message == .devicesChanged { attached.reconcileLater(in: session) }
                },
                disconnected: { reason in say("connection lost (\(reason)); resuming…") },
                resumed: { path in say("resumed: the devices stayed attached; path: \(path)") },
                moved: { path in say("path: \(path)") },
                ended: { reason in
                    attached.forget()
                    say("session ended (\(reason)); the devices are detached until the server is back")
                }),
            replaced: { session in
                say("connected again: attaching the devices")
                // The server may still hold the devices for the old session until its own
                // grace period ends: keep trying that long.
                attached.attachAgain(in: session, forSeconds: Double(config.integer("session.grace_seconds")) + 10)
            })
        let session: Session
        do { session = try client.start() } catch {
            throw ServerConnection.explain(error, server: address, identity: identity)
        }
        say("path: \(session.currentPath)")
        do { try attached.attachFirst(in: session) } catch {
            client.stop(reason: "attach failed")
            throw CLIError("\(error)")
        }
        let status = StatusReporter(server: address.id.description, client: client, attached: attached, log: log)
        status.start()
        onTerminationSignal { _ in
            attached.detachAll()
            client.stop(reason: "detached by the user")
            status.stop()
            say("detached")
        }
        dispatchMain()
    }
}

/// The devices this process keeps attached, and their vhci ports.
final class AttachedDevices: @unchecked Sendable {
    /// What to attach of what the server offers.
    private var choice: DeviceChoice
    /// What the server calls its devices (for selectors by name).
    let names = DeviceNames()
    let log: Logger
    private let lock = Monitor()
    private var ports: [(busid: String, port: Int)] = []
    /// The session channel each attached device's URBs go through, by bus id.
    private var channels: [String: UInt16] = [:]

    /// The channel of an attached device (for its byte counts).
    func channel(of busid: String) -> UInt16? { lock.withLock { channels[busid] } }

    /// Devices the user was told are not attached, and why (told once each).
    private var toldSkipped: Set<String> = []
    /// One reconciliation at a time (hotplug notices can come in bursts).
    private let reconciling = Monitor()
    /// A reconciliation is started and has not yet asked for the device list: a request
    /// meanwhile is served by it (a hotplug brings new names and a devices-changed notice).
    private var reconcileQueued = false

    init(choice: DeviceChoice, log: Logger) {
        self.choice = choice
        self.log = log
    }

    /// What the server offered when last asked.
    private var offered: [ExportedDevice] = []
    /// Reconciliations finished so far (the service waits for the one after a change).
    private var reconciled = 0

    /// Reconciliations finished so far.
    var reconciliations: Int { lock.withLock { reconciled } }

    /// Waits until more than `count` reconciliations have finished, or `deadline` (monotonic).
    @discardableResult
    func waitForReconciliation(after count: Int, deadline: Double) -> Bool {
        lock.withLock { lock.wait(until: deadline) { reconciled > count } }
    }

    /// Changes what is wanted (the service's wishes changed); `reconcileLater` acts on it.
    func update(choice: DeviceChoice) { lock.withLock { self.choice = choice } }

    /// What the server offered when last asked, and the ports attached now.
    var snapshot: (offered: [ExportedDevice], ports: [(busid: String, port: Int)]) {
        lock.withLock { () -> (offered: [ExportedDevice], ports: [(busid: String, port: Int)]) in
            (offered: offered, ports: ports)
        }
    }

    /// The bus ids to attach from what the server lists; says once per device why one
    /// is left out.
    private func wanted(in session: Session) throws -> (busids: [String], offered: [ExportedDevice]) {
        let channel = try session.openChannel()
        defer { channel.close() }
        let devices = try USBIPClient.deviceList(over: channel, timeoutSeconds: AttachCommand.replyTimeoutSeconds)
        let decision = lock.withLock {
            offered = devices
            return choice.decide(offered: devices, name: { names.name(of: $0) })
        }
        for (device, reason) in decision.skipped {
            let key = "\(device.busid) \(reason)"
            guard lock.withLock({ toldSkipped.insert(key).inserted }) else { continue }
            say("not attaching \(describe(device)): \(reason)")
        }
        return (decision.attach.map(\.busid), devices)
    }

    private func describe(_ d: ExportedDevice) -> String {
        "\(d.busid) (\(hex4(d.idVendor)):\(hex4(d.idProduct))\(names.name(of: d.busid).map { ", \($0)" } ?? ""))"
    }

    /// The first attach: every selector must match a device the server offers.
    /// It runs as a reconciliation does (one at a time with them: the device names that
    /// open a session start one, which must not import the same device meanwhile).
    func attachFirst(in session: Session) throws {
        try reconciling.withLock { () throws in try attachFirstNow(in: session) }
    }

    private func attachFirstNow(in session: Session) throws {
        let (busids, offered) = try wanted(in: session)
        let listed = offered.map(describe).joined(separator: ", ")
        if case .named(let selectors) = choice.scope {
            for selector in selectors
            where !offered.contains(where: { selector.matches($0, name: names.name(of: $0.busid)) }) {
                throw AttachError(
                    "the server offers no device \(selector)"
                        + (offered.isEmpty
                            ? " (it offers none to this client\(Self.sharingHint))" : " (it offers: \(listed))"))
            }
        }
        if busids.isEmpty {
            switch choice.scope {
            case .everyDeviceNow:
                throw AttachError(
                    offered.isEmpty
                        ? "the server offers no devices to this client\(Self.sharingHint) "
                            + "(name one to wait for it, or use --including-new)"
                        : "nothing to attach: name the device to attach it")
            default: say("the server offers no matching device yet; waiting for one")
            }
        }
        for busid in busids where !isAttached(busid) { try attach(busid, in: session) }
    }

    /// Whether `busid` is on a vhci port of ours already (a reconciliation took it).
    private func isAttached(_ busid: String) -> Bool { lock.withLock { ports.contains { $0.busid == busid } } }

    /// What the user is told when the server took a device away.
    static func left(_ busid: String, port: Int) -> String {
        "\(busid) left port \(port): the server no longer offers it to this laptop "
            + "(unplugged there, or no longer shared with this laptop)"
    }

    /// Why a paired laptop may see nothing.
    static let sharingHint = ": a laptop that is not the server's owner sees what the owner shares with it"

    struct AttachError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Attaches what matches and is not attached yet, and detaches what is no longer
    /// wanted, on a thread of its own.
    func reconcileLater(in session: Session) {
        let already = lock.withLock { () -> Bool in
            defer { reconcileQueued = true }
            return reconcileQueued
        }
        if already { return }
        let reconcile: @Sendable () -> Void = { [self] in
            reconciling.withLock {
                lock.withLock { reconcileQueued = false }
                let freed = pruneFreedPorts()
                do {
                    let (busids, offered) = try wanted(in: session)
                    for (busid, port) in freed where !offered.contains(where: { $0.busid == busid }) {
                        say(Self.left(busid, port: port))
                    }
                    let unwanted = lock.withLock { ports.filter { !busids.contains($0.busid) } }
                    for (busid, port) in unwanted {
                        do throws(VHCIError) {
                            try VHCI.detach(port: port)
                            let why =
                                offered.contains { $0.busid == busid }
                                ? "no longer wanted" : "the server no longer offers it to this laptop"
                            say("detached \(busid) from port \(port): \(why)")
                        } catch {
                            if offered.contains(where: { $0.busid == busid }) {
                                log.warning("detach port \(port): \(error)")
                            } else {
                                // The server ended the import, so the kernel frees the port
                                // itself, and had begun to before this detach (seen in CI).
                                say(Self.left(busid, port: port))
                            }
                        }
                        lock.withLock { ports.removeAll { $0.port == port } }
                    }
                    let have = Set(lock.withLock { ports.map(\.busid) })
                    for busid in busids where !have.contains(busid) {
                        do { try attach(busid, in: session) } catch {
                            if !session.isEnded { say("could not attach \(busid): \(error)") }
                        }
                    }
                } catch {
                    if !session.isEnded { log.notice("attaching new devices: \(error)") }
                }
                lock.withLock {
                    reconciled += 1
                    lock.broadcast()
                }
            }
        }
        do { try OSThread.detach(name: "reconcile", reconcile) } catch {
            lock.withLock { reconcileQueued = false }
            log.warning("not attaching new devices now: \(error)")
        }
    }

    /// Forgets the ports vhci_hcd has let go of (the device went away on the server) and
    /// returns them.
    private func pruneFreedPorts() -> [(busid: String, port: Int)] {
        guard let free = try? Set(VHCI.ports().filter(\.isFree).map(\.port)) else { return [] }
        return lock.withLock {
            let freed = ports.filter { free.contains($0.port) }
            ports.removeAll { free.contains($0.port) }
            return freed
        }
    }

    /// Attaches every wanted device in a new session, retrying each every 2 s for a while
    /// (the server answers "busy" until it has released the old session's imports).
    /// One at a time with the reconciliations, as `attachFirst`.
    func attachAgain(in session: Session, forSeconds limit: Double) {
        reconciling.withLock { attachAgainNow(in: session, forSeconds: limit) }
    }

    private func attachAgainNow(in session: Session, forSeconds limit: Double) {
        let deadline = monotonicSeconds() + limit
        var remaining: [String] = []
        while !session.isEnded {
            do {
                remaining = try wanted(in: session).busids
                break
            } catch {
                guard monotonicSeconds() < deadline else {
                    say("could not list the devices again: \(error)")
                    return
                }
                usleep(2_000_000)
            }
        }
        while !remaining.isEmpty, !session.isEnded {
            let busid = remaining.removeFirst()
            if isAttached(busid) { continue }
            do { try attach(busid, in: session) } catch {
                guard monotonicSeconds() < deadline else {
                    say("could not attach \(busid) again: \(error)")
                    continue
                }
                log.info("attaching \(busid) again: \(error); retrying")
                remaining.append(busid)
                usleep(2_000_000)
            }
        }
    }

    private func attach(_ busid: String, in session: Session) throws {
        let (channel, number) = try session.openNumberedChannel()
        let device = try USBIPClient.importDevice(
            busid: busid, over: channel, timeoutSeconds: AttachCommand.replyTimeoutSeconds)
        let port = try VHCI.attach(socketDescriptor: channel.descriptor, device: device)
        channel.close()  // vhci_hcd holds the socket now; the session pumps its other end
        lock.withLock {
            ports.append((busid, port))
            channels[busid] = number
        }
        say("attached \(busid) (\(hex4(device.idVendor)):\(hex4(device.idProduct)), \(device.speed)) on port \(port)")
    }

    /// The session ended: its channels closed, and vhci_hcd let go of those ports itself.
    func forget() { lock.withLock { ports.removeAll() } }

    /// What is attached now, for the status file.
    var attached: [AttachStatus.Device] { lock.withLock { ports.map { .init(busid: $0.busid, port: $0.port) } } }

    func detachAll() {
        for (_, port) in lock.withLock({ ports }) {
            do throws(VHCIError) { try VHCI.detach(port: port) } catch { log.warning("detach port \(port): \(error)") }
        }
        forget()
    }
}

/// A line for the user, out at once even when stdout is a file (attach runs for long).
func say(_ line: String) {
    print(line)
    fflush(nil)
}
