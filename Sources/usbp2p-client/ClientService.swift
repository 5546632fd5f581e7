import AttachStatus
import CLISupport
import ClientControl
import Config
import DeviceChoice
import Dispatch
import FileSystem
import Identity
import Log
import OSThreads
import Session
import Sockets
import Synchronization
import USBIP
import VHCI

#if canImport(Glibc)
    import Glibc
#endif

/// The laptop's service: the one identity, the peers, the wishes and every session of
/// this machine. It keeps each server with wishes connected and its wished devices on
/// vhci ports; the CLI asks it over its Unix socket (`ServiceSocket`).
final class ClientService: @unchecked Sendable {
    let config: ConfigFile
    let log: Logger
    let identity: EndpointIdentity
    private let lock = Monitor()
    private var wishes: Wishes
    private var keepers: [EndpointId: ServerKeeper] = [:]
    /// USB/IP bridges to servers' devices (`usbp2p-client bridge`); they last while the
    /// service runs.
    let bridges = BridgeTable()
    /// Open `usbp2p-client ui` views: they keep every paired server connected.
    let viewers = ViewerCount(clock: monotonicSeconds)
    /// After the views fall silent: the servers they alone kept connected are let go.
    private let viewersGone: Deadlines
    private let viewersGoneCheck = Mutex<Deadlines.Token?>(nil)

    /// The wishes for `server`.
    func wishList(of server: EndpointId) -> [Wish] { lock.withLock { wishes.of(server) } }
    private var wishesPath: String { "\(config.string("state_directory"))/wishes" }

    init(config: ConfigFile, identity: EndpointIdentity, log: Logger) throws {
        self.config = config
        self.identity = identity
        self.log = log
        let path = "\(config.string("state_directory"))/wishes"
        do throws(WishesError) { wishes = try Wishes.load(from: path) } catch { throw CLIError("\(error)") }
        viewersGone = try Deadlines(name: "viewers-gone")
    }

    /// A view was heard from: once none has been for the lease, the servers nothing else
    /// keeps are let go (a `ui` killed before its `--done` leaves them otherwise).
    func viewerHeard() {
        let check = viewersGone.schedule(after: ViewerCount.leaseSeconds + 1) { [self] in
            guard !viewers.isAny else { return }
            // Off the deadlines' thread: ending a session waits for its goodbye.
            DispatchQueue.global().async { [self] in
                let peers = (try? Peers.load(config)) ?? PeerList()
                for entry in peers.entries { dropKeeperIfUnwished(entry.id) }
            }
        }
        let earlier = viewersGoneCheck.withLock { token in
            defer { token = check }
            return token
        }
        if let earlier { viewersGone.cancel(earlier) }
    }

    /// Keeps every server with wishes connected (each in the background).
    func start() {
        let servers = lock.withLock { wishes.servers }
        for server in servers { keep(server) }
    }

    /// Detaches everything (the laptop shuts down or the service stops); the wishes stay.
    func stop() {
        for (_, bridge) in bridges.removeAll() { bridge.stop() }
        let all = lock.withLock { () -> [ServerKeeper] in
            defer { keepers.removeAll() }
            return Array(keepers.values)
        }
        for keeper in all { keeper.stop(reason: "the laptop's usbp2p-client service stopped") }
    }

    // MARK: Requests

    /// attach [SERVER] [DEVICE...] [--including-new]
    func attach(_ arguments: [String]) -> ServiceReply {
        var words = arguments
        let includingNew = words.contains("--including-new")
        words.removeAll { $0 == "--including-new" }
        if let option = words.first(where: { $0.hasPrefix("-") }) {
            return .failure("attach through the service takes [SERVER] [DEVICE...] [--including-new], not \(option)")
        }
        let peers: PeerList
        do { peers = try Peers.load(config) } catch { return .failure("\(error)") }
        let named = Self.takeServer(from: &words, peers: peers)
        let server: ServerAddress
        do { server = try ServerAddress.resolve(named, peers: peers) } catch { return .failure("\(error)") }
        if includingNew, !words.isEmpty {
            return .failure("--including-new is for every device; named devices are attached whenever offered already")
        }
        var added: [Wish] = []
        var leftOut: [String] = []
        // A failure leaves no session behind to a server nothing is wished of.
        defer { if added.isEmpty { dropKeeperIfUnwished(server.id) } }
        if words.isEmpty && !includingNew {
            // Every device offered now: each becomes a wish of its own (by bus id), so that
            // what was chosen today is what comes back after a reboot, and nothing more.
            let keeper = keep(server.id)
            guard let offered = keeper.offeredNow(seconds: 20) else {
                return .failure(
                    "the server is not reachable now (\(keeper.state)); name the devices to keep them wished for, "
                        + "or use --including-new")
            }
            let usable = offered.filter { !$0.isKeyboard }
            guard !usable.isEmpty else {
                return .failure(
                    offered.isEmpty
                        ? "the server offers no devices to this laptop: name one to attach it when it comes"
                        : "the server offers only keyboards, which are attached only when named")
            }
            added = usable.map { Wish(server: server.id, what: .device(.busid($0.busid))) }
            leftOut = offered.filter(\.isKeyboard).map {
                "not attaching \($0.busid) (\(hex4($0.idVendor)):\(hex4($0.idProduct))): \(DeviceChoice.keyboardReason($0))\n"
            }
        } else if includingNew {
            added = [Wish(server: server.id, what: .everyDeviceIncludingNew)]
        } else {
            added = words.map { Wish(server: server.id, what: .device(DeviceSelector.parse($0))) }
        }
        do {
            try lock.withLock { () throws in
                var next = wishes
                for wish in added { try next.add(wish) }
                try next.save(to: wishesPath)
                wishes = next
            }
        } catch {
            added = []
            return .failure("\(error)")
        }
        let keeper = keep(server.id)
        let before = keeper.reconciliations
        keeper.update(wishes: lock.withLock { wishes.of(server.id) })
        // Report what happened within a little while: attached, or why not yet.
        keeper.waitForAttachments(after: before, seconds: 20)
        return ServiceReply(
            status: 0,
            standardOutput: leftOut.joined() + keeper.describe(wishes: added).map { $0 + "\n" }.joined()
                + "kept attached by the service: 'usbp2p-client status' shows them, 'usbp2p-client detach' ends that\n")
    }

    /// The server a request names first, if its first word names one (taken off `words`).
    static func takeServer(from words: inout [String], peers: PeerList) -> String? {
        guard let first = words.first, ServerAddress.looksLikeServer(first, peers: peers) else { return nil }
        words.removeFirst()
        return first
    }

    /// detach DEVICE... | SERVER | --all
    func detach(_ arguments: [String]) -> ServiceReply {
        guard !arguments.isEmpty else {
            return .failure("detach what? a device (name, VID:PID or bus id), a server, or --all")
        }
        let peers = (try? Peers.load(config)) ?? PeerList()
        let removed: [Wish]
        do {
            removed = try lock.withLock { () throws -> [Wish] in
                var next = wishes
                var gone: [Wish] = []
                if arguments == ["--all"] {
                    gone = next.remove { _ in true }
                } else {
                    for word in arguments {
                        if case .success(let peer) = peers.find(word) {
                            gone += next.remove { $0.server == peer.id }
                            continue
                        }
                        let selector = DeviceSelector.parse(word)
                        let matching = next.remove { wish in
                            if case .device(let wished) = wish.what, wished == selector { return true }
                            // A device attached now by another wish (every device, a bus id)
                            // and named here by VID:PID or name: its wish goes too.
                            return self.keepers[wish.server]?.wish(wish, covers: selector) == true
                        }
                        if matching.isEmpty { throw CLIError("nothing attached or wished matches '\(word)'") }
                        gone += matching
                    }
                }
                try next.save(to: wishesPath)
                wishes = next
                return gone
            }
        } catch {
            return .failure("\(error)")
        }
        var lines: [String] = []
        for server in Set(removed.map(\.server)) {
            let remaining = lock.withLock { wishes.of(server) }
            guard let keeper = lock.withLock({ keepers[server] }) else { continue }
            if remaining.isEmpty, !bridges.has(server), !viewers.isAny {
                lock.withLock { _ = keepers.removeValue(forKey: server) }
                keeper.stop(reason: "nothing of it is wished for any more")
            } else {
                let before = keeper.reconciliations
                keeper.update(wishes: remaining)
                keeper.waitForAttachments(after: before, seconds: 10)
            }
        }
        for wish in removed {
            lines.append("no longer kept attached: \(wish) of \(displayName(of: wish.server, peers: peers))")
        }
        return ServiceReply(status: 0, standardOutput: lines.map { $0 + "\n" }.joined())
    }

    /// status [--json]
    func status(_ arguments: [String]) -> ServiceReply {
        let peers = (try? Peers.load(config)) ?? PeerList()
        let (all, byServer) = lock.withLock { (wishes, keepers) }
        if arguments.contains("--json") {
            let items = all.servers.map { server -> String in
                let keeper = byServer[server]
                let wishItems = all.of(server).map { wish in
                    "{\"wish\":\(AttachStatus.quote("\(wish)")),\"state\":\(AttachStatus.quote(keeper?.state(of: wish) ?? "not started"))}"
                }
                return
                    "{\"server\":\(AttachStatus.quote("\(server)")),\"name\":\(AttachStatus.quote(displayName(of: server, peers: peers))),"
                    + "\"path\":\(AttachStatus.quote(keeper?.state ?? "not started")),\"wishes\":[\(wishItems.joined(separator: ","))]}"
            }
            return ServiceReply(
                status: 0,
                standardOutput:
                    "{\"servers\":[\(items.joined(separator: ","))],\"bridges\":[\(bridgeJSON(peers: peers).joined(separator: ","))]}\n"
            )
        }
        let bridged = bridgeStatus(peers: peers)
        if all.all.isEmpty {
            return ServiceReply(
                status: 0,
                standardOutput: "nothing is kept attached: usbp2p-client attach\n" + bridged.map { $0 + "\n" }.joined())
        }
        var lines: [String] = []
        for server in all.servers {
            let keeper = byServer[server]
            lines.append(
                "\(displayName(of: server, peers: peers)) (\(server.description.prefix(8))…): \(keeper?.state ?? "not started")"
            )
            for wish in all.of(server) { lines.append("  \(wish): \(keeper?.state(of: wish) ?? "not started")") }
        }
        return ServiceReply(status: 0, standardOutput: (lines + bridged).map { $0 + "\n" }.joined())
    }

    func displayName(of server: EndpointId, peers: PeerList) -> String {
        peers.entries.first { $0.id == server }.map { $0.name.isEmpty ? "\(server)" : $0.name } ?? "\(server)"
    }

    /// Stops and forgets the keeper of `server` when nothing of it is wished nor bridged.
    func dropKeeperIfUnwished(_ server: EndpointId) {
        let keeper = lock.withLock { () -> ServerKeeper? in
            guard wishes.of(server).isEmpty, !bridges.has(server), !viewers.isAny else { return nil }
            return keepers.removeValue(forKey: server)
        }
        keeper?.stop(reason: "nothing of it is wished")
    }

    /// The keeper of `server`, if one runs.
    func keeper(of server: EndpointId) -> ServerKeeper? { lock.withLock { keepers[server] } }

    /// The keeper of `server`, started if it was not.
    @discardableResult
    func keep(_ server: EndpointId) -> ServerKeeper {
        lock.withLock { () -> ServerKeeper in
            if let keeper = keepers[server] { return keeper }
            let keeper = ServerKeeper(
                server: ServerAddress(id: server, direct: nil), wishes: wishes.of(server), config: config,
                identity: identity, log: log)
            keepers[server] = keeper
            keeper.start()
            return keeper
        }
    }
}

/// One server's session and its wished devices, kept by the service: it connects (and
/// keeps trying while the server is out of reach), attaches what is wished, and follows
/// the wishes as they change.
final class ServerKeeper: @unchecked Sendable {
    let server: ServerAddress
    private let config: ConfigFile
    private let identity: EndpointIdentity
    private let log: Logger
    private let attached: AttachedDevices
    private let monitor = Monitor()
    private var client: SessionClient?
    private var stopped = false
    private var problem: String?
    private var wishes: [Wish]
    private var thread: OSThread?

    init(server: ServerAddress, wishes: [Wish], config: ConfigFile, identity: EndpointIdentity, log: Logger) {
        self.server = server
        self.wishes = wishes
        self.config = config
        self.identity = identity
        self.log = log
        attached = AttachedDevices(choice: DeviceChoice.of(wishes), log: log)
    }

    /// Connects in the background, with growing pauses while the server cannot be reached.
    func start() {
        do { thread = try OSThread.start(name: "server-keeper") { [self] in connect() } } catch {
            monitor.withLock { problem = "not started: \(error)" }
        }
    }

    private func connect() {
        var backoff = Backoff(initial: 1, cap: 30)
        while !monitor.withLock({ stopped }) {
            do {
                let client = try ServerConnection.client(
                    for: server, relay: nil, config: config, identity: identity, log: log, upgrade: true,
                    events: SessionEvents(
                        control: { [attached] message, session in
                            let renamed = attached.names.take(message)
                            if renamed || message == .devicesChanged { attached.reconcileLater(in: session) }
                        },
                        ended: { [attached] _ in attached.forget() }),
                    replaced: { [attached] session in attached.reconcileLater(in: session) })
                let session = try client.start()
                let keep = monitor.withLock { () -> Bool in
                    guard !stopped else { return false }
                    self.client = client
                    problem = nil
                    monitor.broadcast()
                    return true
                }
                guard keep else {
                    client.stop(reason: "stopped")
                    return
                }
                log.notice("\(server.id): connected (\(session.currentPath))")
                attached.reconcileLater(in: session)
                return
            } catch {
                let why = "\(ServerConnection.explain(error, server: server, identity: identity))"
                let pause = backoff.next()
                monitor.withLock {
                    problem = "waiting for the server (\(why)); trying again"
                    monitor.broadcast()
                    _ = monitor.wait(until: monotonicSeconds() + pause) { stopped }
                }
            }
        }
    }

    func update(wishes: [Wish]) {
        monitor.withLock { self.wishes = wishes }
        attached.update(choice: DeviceChoice.of(wishes))
        if let session = monitor.withLock({ client?.current }), !session.isEnded {
            attached.reconcileLater(in: session)
        }
    }

    /// What the server offers, once connected within `seconds`; nil if it is not.
    func offeredNow(seconds: Double) -> [ExportedDevice]? {
        let deadline = monotonicSeconds() + seconds
        let session = monitor.withLock { () -> Session? in
            monitor.wait(until: deadline) { client != nil || stopped }
            return client?.current
        }
        guard let session, !session.isEnded, let channel = try? session.openChannel() else { return nil }
        defer { channel.close() }
        return try? USBIPClient.deviceList(over: channel, timeoutSeconds: AttachCommand.replyTimeoutSeconds)
    }

    /// Reconciliations finished so far: read before a change of wishes, for
    /// `waitForAttachments(after:seconds:)`.
    var reconciliations: Int { attached.reconciliations }

    /// Waits (at most `seconds`) until the server is connected and the devices have been
    /// matched against the wishes once more than `before` times (attached, or found
    /// absent): by the reconciliation `update` started, or the one connecting starts.
    func waitForAttachments(after before: Int, seconds: Double) {
        let deadline = monotonicSeconds() + seconds
        let connected = monitor.withLock { monitor.wait(until: deadline) { client != nil || stopped } && client != nil }
        guard connected else { return }
        attached.waitForReconciliation(after: before, deadline: deadline)
    }

    /// The session, while it lasts.
    var currentSession: Session? {
        guard let session = monitor.withLock({ client?.current }), !session.isEnded else { return nil }
        return session
    }

    /// What the server calls its devices, by bus id.
    var deviceNames: [String: String] { attached.names.all }

    /// What the server offered when last asked, and the vhci ports attached now.
    var snapshot: (offered: [ExportedDevice], ports: [(busid: String, port: Int)]) { attached.snapshot }

    /// The session channel of a device attached here.
    func channel(of busid: String) -> UInt16? { attached.channel(of: busid) }

    /// Whether `wish` takes in `device`.
    func wish(_ wish: Wish, takesIn device: ExportedDevice) -> Bool { covers(wish, device) }

    /// How the session runs: its path, or why there is none.
    var state: String {
        monitor.withLock { () -> String in
            if let problem { return problem }
            guard let session = client?.current else { return "connecting" }
            if let reason = session.endedBecause { return "waiting for the server (the session ended: \(reason))" }
            return session.isConnected ? "connected, \(session.currentPath)" : "resuming (the connection was lost)"
        }
    }

    /// What became of one wish.
    func state(of wish: Wish) -> String {
        let connected = monitor.withLock { client?.current.map { !$0.isEnded } ?? false }
        guard connected else { return "waiting for the server" }
        let (offered, ports) = attached.snapshot
        let matching = offered.filter { covers(wish, $0) }
        if matching.isEmpty {
            return wish.what == .everyDeviceIncludingNew ? "no device offered yet" : "device absent on the server"
        }
        let attachedHere = matching.compactMap { d in ports.first { $0.busid == d.busid } }
        if attachedHere.isEmpty {
            if matching.allSatisfy(\.isKeyboard), wish.what == .everyDeviceIncludingNew {
                return "only keyboards offered (attached only when named)"
            }
            return "attaching"
        }
        return "attached: " + attachedHere.map { "\($0.busid) on port \($0.port)" }.joined(separator: ", ")
    }

    /// Whether `wish` takes in the device `selector` names, among those offered now.
    func wish(_ wish: Wish, covers selector: DeviceSelector) -> Bool {
        attached.snapshot.offered.contains {
            covers(wish, $0) && selector.matches($0, name: attached.names.name(of: $0.busid))
        }
    }

    private func covers(_ wish: Wish, _ device: ExportedDevice) -> Bool {
        switch wish.what {
        case .device(let selector): selector.matches(device, name: attached.names.name(of: device.busid))
        case .everyDeviceIncludingNew: !device.isKeyboard
        }
    }

    func describe(wishes: [Wish]) -> [String] { wishes.map { "\($0): \(state(of: $0))" } }

    func stop(reason: String) {
        let client = monitor.withLock { () -> SessionClient? in
            stopped = true
            monitor.broadcast()
            return self.client
        }
        thread?.join()
        attached.detachAll()
        client?.stop(reason: reason)
    }
}
