import AccessPolicy
import Audit
import Config
import Dispatch
import Exporter
import FileSystem
import Identity
import LocalDiscovery
import Log
import OSThreads
import Pairing
import PortMapping
import Reach
import Relay
import Secure
import Session
import Sockets
import Synchronization
import USBHost

/// usbp2pd's sessions: mutual TLS with clients on its allowlist, reached directly (LAN
/// listener) or through its relay; each channel a client opens is one connection to the
/// USB/IP server in this process.
final class SessionService: @unchecked Sendable {
    static let alpn = "usbp2p/1"
    /// How long a connection may take for TLS and then the hellos or the pairing exchange,
    /// in all (a deadline on the whole exchange, not on each read: a trickle of bytes runs
    /// out too).
    static let handshakeSeconds = 10.0
    /// Connections in their handshake at once; more are closed at once (each holds a
    /// thread for up to `handshakeSeconds`, so a flood of silent ones is bounded).
    static let maxHandshakes = 64
    /// Handshakes from one source address at once: one host cannot take every slot, and
    /// when all are taken a newcomer replaces the oldest of the busiest source
    /// (ConnectionAdmission). Connections through the relay count as one source.
    static let maxHandshakesPerSource = 8
    /// Clients announced by the relay that are being taken up at once: each costs a
    /// thread and a relay connection, and the notices can be forged by the relay (or,
    /// while `relay.id` is unset, by anyone in the middle).
    static let maxRelayAccepts = 8
    private let admission = ConnectionAdmission(capacity: maxHandshakes, perSource: maxHandshakesPerSource)
    private let relayAccepts = Atomic<Int>(0)
    /// The whole-handshake deadlines.
    private let deadlines: Deadlines
    /// Lines strangers can cause (refusals, relay notices) are rate-limited.
    private let noisy = LogRateLimit(clock: monotonicSeconds)
    /// Connections refused in their handshake (not on the allowlist, garbage, timeouts).
    let refusedHandshakes = Atomic<Int>(0)

    let identity: EndpointIdentity
    let tls: TLSContext
    let registry: SessionRegistry
    /// Who may use which device now (access rules, allowlist, owner, sharing).
    let access: LiveAccess
    var allowlistPath: String { access.allowlistPath }
    let logger: Logger
    private var listener: TCP.Listener?
    private var relayListener: RelayListener?
    /// Direct paths for clients that came through the relay.
    let paths: PathResponder
    /// The listener's port on the router, when it forwards one (NAT-PMP or UPnP-IGD).
    private let portMapping: PortMappingKeeper?
    /// Answers mDNS queries on the LAN for this server.
    private var mdns: MDNSAdvertiser?
    /// What the path responder needs of this service, filled in once it exists.
    private final class Late: @unchecked Sendable {
        weak var service: SessionService?
    }
    /// When a client not on the allowlist was last taken up from the relay.
    private let lastStrangerAccepted = Mutex<Double>(-.infinity)
    /// Strangers announced by the relay are taken up (to be refused in the handshake,
    /// with a message) at most this often: anyone can make the relay announce them, and
    /// each costs this server a TLS connection.
    static let strangerInterval = 2.0

    /// Pairings, sessions, imports, sharing and allowlist changes, kept across reboots.
    let audit: AuditLog
    /// The devices (for their names), and the server whose imports `access` governs.
    let exporter: USBIPExporter
    let usbip: USBIPServer
    /// Pairing connections (ALPN usbp2p-pair/1), from anyone: the window decides.
    private let pairing: @Sendable (TLSStream) -> Void
    private let pairingOpen: @Sendable () -> Bool

    init(
        identity: EndpointIdentity, config: ConfigFile, configPath: String, usbip: USBIPServer,
        exporter: USBIPExporter, audit: AuditLog, logger: Logger,
        pairingOpen: @escaping @Sendable () -> Bool = { false },
        pairing: @escaping @Sendable (TLSStream) -> Void = { $0.close() }
    ) throws {
        self.identity = identity
        self.logger = logger
        deadlines = try Deadlines(name: "handshake-time")
        self.pairing = pairing
        self.pairingOpen = pairingOpen
        // Fail at start on a broken allowlist, sharing state or rules rather than refuse
        // everyone silently.
        self.audit = audit
        let access = try LiveAccess(config: config, configPath: configPath, audit: audit, logger: logger)
        self.access = access
        let allowlistPath = access.allowlistPath
        let now = access.now
        let paired = try Allowlist.load(from: allowlistPath).entries.count
        logger.info(
            "\(paired) client(s) on the allowlist \(allowlistPath); "
                + "owner \(now.owner.map { "\($0)" } ?? "none yet (the first laptop paired)"); "
                + "devices not yet shared or unshared: \(now.newDevices.rawValue)")
        self.exporter = exporter
        self.usbip = usbip
        if !now.policy.rules.isEmpty || now.policy.defaultVerdict == .deny {
            logger.info("access: \(now.policy.rules.count) rule(s), otherwise \(now.policy.defaultVerdict)")
        }
        tls = try TLSContext(
            role: .server, identity: identity, protocols: [Self.alpn, PairingExchange.alpn]
        ) { peer, alpn in
            // Anyone may try to pair; the pairing window and the secret decide.
            if alpn == PairingExchange.alpn { return nil }
            // Read for each handshake: additions take effect without a restart.
            do throws(AllowlistError) {
                return try Allowlist.load(from: allowlistPath).contains(peer)
                    ? nil : "\(peer) is not on the allowlist"
            } catch {
                return "\(error)"
            }
        }
        let listen = config.string("session.listen")
        if !listen.isEmpty, let endpoint = Endpoint(parsing: listen, defaultPort: 7575) {
            // Shared: the relay registration and hole punching leave from this port.
            listener = try TCP.Listener(endpoint: endpoint, sharedPort: true)
        }
        let late = Late()
        let direct = config.boolean("reach.direct")
        let keeper =
            direct && config.boolean("reach.port_mapping")
            ? listener.map { PortMappingKeeper(port: $0.endpoint.port, logger: logger) } : nil
        portMapping = keeper
        paths = PathResponder(
            listener: direct ? listener?.endpoint : nil, logger: logger,
            relayPath: {
                guard direct, let relay = late.service?.relayListener, let port = relay.localPort,
                    let observed = relay.observedAddress.flatMap({ Endpoint(parsing: $0, defaultPort: 0) })
                else { return nil }
                return (observed, port)
            },
            mapped: { keeper?.current?.publicEndpoint },
            accept: { socket in late.service?.serveDirect(socket) })
        var sessionConfiguration = SessionConfiguration()
        sessionConfiguration.grace = Double(config.integer("session.grace_seconds"))
        registry = SessionRegistry(
            configuration: sessionConfiguration, logger: logger,
            accepted: { peer, session, joining in
                let path = session.currentPath
                switch joining {
                case .opened: late.service?.record(.sessionOpened, peer: peer, path: path, result: "ok")
                case .resumed: late.service?.record(.sessionResumed, peer: peer, path: path, result: "ok")
                case .moved(let from) where from != path:
                    late.service?.record(.sessionResumed, peer: peer, path: path, result: "moved from \(from)")
                // A fresh connection on the same path, for the client's next search for a
                // better one (every half minute or so on a relay): not an event.
                case .moved: break
                }
            },
            makeEvents: { [paths] peer in
                // Which devices this peer sees and may import, decided at each use.
                let allows = access.allows(for: peer)
                return SessionEvents(
                    openChannel: { channel, sender in
                        USBIPChannel.serve(
                            on: usbip, sender: sender, peer: "\(peer) channel \(channel)", owner: peer, allows: allows)
                    },
                    control: { message, session in
                        if case .sharing(let share, let busid, let laptops) = message {
                            late.service?.sharingAsked(
                                share: share, busid: busid, laptops: laptops, by: peer, in: session)
                        } else if case .auditRequest(let since) = message {
                            late.service?.auditAsked(since: since, by: peer, in: session)
                        } else {
                            paths.handle(message, in: session)
                        }
                    },
                    ended: { reason in late.service?.record(.sessionEnded, peer: peer, result: reason) })
            })
        let relay = config.string("relay.address")
        if !relay.isEmpty, let endpoint = Endpoint(parsing: relay, defaultPort: 443) {
            let relayId = config.string("relay.id").isEmpty ? nil : try EndpointId(parsing: config.string("relay.id"))
            relayListener = RelayListener(
                relay: endpoint, relayId: relayId, identity: identity, logger: logger,
                preferredPort: listener?.endpoint.port
            ) { [weak self] token, from in
                self?.acceptFromRelay(token: token, from: from, relay: endpoint, relayId: relayId)
            }
        }
        // (Through avahi, ServeCommand publishes the files instead.)
        if let listener, Self.mdnsAnswerer(config) == .usbp2pd {
            do {
                mdns = try MDNSAdvertiser(
                    id: identity.endpointId.description, port: listener.endpoint.port, logger: logger)
            } catch {
                logger.warning("mDNS: cannot answer on the LAN (\(error)); laptops there come through the relay")
            }
        }
        late.service = self
    }

    /// Serves sessions; `watch` learns whether the session listener can be kept.
    func start(watch: ListenerWatch? = nil) {
        if let listener {
            logger.notice("sessions on \(listener.endpoint) as \(identity.endpointId)")
            do {
                try OSThread.detach(name: "session-accept") { [self] in
                    AcceptLoop.run(
                        name: "session listener \(listener.endpoint)", watch: watch, accept: listener.accept,
                        failing: { logger.warning("sessions: accept: \($0); trying again") },
                        recovered: { logger.notice("sessions: accepting again") }, serve: serveDirect)
                }
            } catch {
                logger.error("sessions: not accepting on \(listener.endpoint): \(error)")
                watch?.notServed("session listener \(listener.endpoint)", "\(error)")
            }
        }
        relayListener?.start()
        portMapping?.start()
        mdns?.start()
    }

    func stop() {
        listener?.socket.shutdown()
        relayListener?.stop()
        portMapping?.stop()
        mdns?.stop()
        registry.endAll(reason: "the server is stopping")
    }

    /// Who answers mDNS for this server on the LAN: nobody (lan.mdns off), avahi-daemon
    /// from the files usbp2pd writes (lan.avahi_services), or usbp2pd's own responder.
    enum MDNSAnswerer: Equatable {
        case nobody
        case avahi(directory: String)
        case usbp2pd
    }

    static func mdnsAnswerer(_ config: ConfigFile) -> MDNSAnswerer {
        guard config.boolean("lan.mdns") else { return .nobody }
        let directory = config.string("lan.avahi_services")
        return directory.isEmpty ? .usbp2pd : .avahi(directory: directory)
    }

    /// The port of the LAN's session listener; nil without one.
    var sessionPort: UInt16? { listener?.endpoint.port }

    /// Whether the relay has this server registered now.
    var isRegisteredAtRelay: Bool { relayListener?.isRegistered ?? false }
    var hasRelay: Bool { relayListener != nil }
    var hasListener: Bool { listener != nil }

    /// Applies what changed in the access rules, the allowlist and the sharing state
    /// (whoever changed them: `usbp2pd allow --remove` or `share`, the owner's laptop, the
    /// button's long press, an editor): the sessions of laptops no longer on the allowlist
    /// end, imports no longer allowed end, and every laptop gets its new device list. New
    /// connections and imports read the state anyway; this is for those already in. Called
    /// on every health tick (0.5 s) and after each change made here.
    func enforceAccess() {
        guard let change = access.refresh() else { return }
        if change.before.owner != change.after.owner, let owner = change.after.owner {
            logger.notice("\(owner) is the owner of this server")
        }
        let removed = registry.sessionsByPeer.filter { entry in
            (try? EndpointId(parsing: entry.peer)).map { change.removed.contains($0) } ?? false
        }
        for (peer, _) in removed { logger.notice("\(peer) is no longer on the allowlist: ending its session") }
        // At once: each end waits (at most 1 s) for its goodbye to go out, and this runs on
        // the tick that pings the watchdog.
        DispatchQueue.concurrentPerform(iterations: removed.count) { index in
            removed[index].session.end(reason: "this client was removed from the server's allowlist")
        }
        guard change.before != change.after else { return }
        for ended in usbip.endDisallowedImports() { logger.notice("\(ended): detached, no longer allowed") }
        devicesChanged()
    }

    /// Applies a sharing change asked for by `requester` (the owner's laptop) or by root
    /// on this machine (nil), and puts it in effect at once.
    func applySharing(_ request: SharingRequest, requester: EndpointId?) throws -> String {
        let done = try SharingFile.apply(
            request, requester: requester, sharingPath: access.sharingPath, allowlistPath: allowlistPath,
            newDevices: access.now.newDevices, devices: exporter.exportableDevices().map(\.facts))
        logger.notice("\(requester.map { "\($0)" } ?? "root on this machine"): \(done)")
        let kind: AuditEvent.Kind =
            switch request {
            case .share: .shared
            case .unshare: .unshared
            case .setOwner: .ownerChanged
            }
        record(kind, peer: requester.map { "\($0)" }, result: requester == nil ? "by root: \(done)" : done)
        enforceAccess()
        return done
    }

    /// An import began, ended or was refused. The plain USB/IP listener's clients are
    /// recorded by address (they have no EndpointId).
    func record(_ event: ImportEvent) {
        func device(_ info: USBDeviceInfo) -> String { "\(info.busid) (\(DeviceKey(info.facts)))" }
        switch event {
        case .imported(let owner, let info):
            record(.attached, peer: owner, device: device(info), path: path(of: owner), result: "ok")
        case .released(let owner, let info, let reason):
            record(.detached, peer: owner, device: device(info), result: reason)
            deviceFreed()
        case .refused(let owner, let busid, let reason):
            record(.importRefused, peer: owner, device: busid, result: reason)
        }
    }

    /// The path of `peer`'s session now, if it has one.
    private func path(of peer: String) -> String? {
        registry.sessionsByPeer.first { $0.peer == peer }?.session.currentPath
    }

    /// An audit event, with the laptop's name from the allowlist.
    func record(
        _ kind: AuditEvent.Kind, peer: String? = nil, device: String? = nil, path: String? = nil, result: String? = nil
    ) {
        let name = peer.flatMap { peer in
            (try? Allowlist.load(from: allowlistPath))?.entries.first { "\($0.id)" == peer }?.name
        }
        audit.record(AuditEvent(kind, peer: peer, name: name, device: device, path: path, result: result))
    }

    /// A laptop's sharing request, answered off the session's reader (it reads files and
    /// lists the devices); at most `maxSharingRequests` wait at once, over all laptops.
    fileprivate func sharingAsked(
        share: Bool, busid: String, laptops: [EndpointId], by peer: String, in session: Session
    ) {
        guard sharingRequests.add(1, ordering: .relaxed).newValue <= Self.maxSharingRequests else {
            sharingRequests.subtract(1, ordering: .relaxed)
            session.send(.sharingResult(ok: false, text: "the server is busy with other sharing requests; try again"))
            return
        }
        notices.async { [self] in
            defer { sharingRequests.subtract(1, ordering: .relaxed) }
            guard let requester = try? EndpointId(parsing: peer) else { return }
            do {
                let done = try applySharing(
                    share ? .share(device: busid, with: laptops.isEmpty ? nil : laptops) : .unshare(device: busid),
                    requester: requester)
                session.send(.sharingResult(ok: true, text: done))
            } catch {
                logger.notice("\(peer): sharing request refused: \(error)")
                record(.sharingRefused, peer: peer, device: busid, result: "\(error)")
                session.send(.sharingResult(ok: false, text: "\(error)"))
            }
        }
    }
    static let maxSharingRequests = 8
    private let sharingRequests = Atomic<Int>(0)

    /// The owner's request for the audit log, answered off the session's reader with the
    /// last `maxAuditEvents` events since `since` (at most `maxAuditBytes` of them), one
    /// control message each; at most `maxAuditRequests` are answered at once.
    fileprivate func auditAsked(since: String, by peer: String, in session: Session) {
        @Sendable func refuse(_ why: String) { session.send(.auditPart(last: true, refused: true, text: why)) }
        guard auditRequests.add(1, ordering: .relaxed).newValue <= Self.maxAuditRequests else {
            auditRequests.subtract(1, ordering: .relaxed)
            return refuse("the server is busy with other audit requests; try again")
        }
        notices.async { [self] in
            defer { auditRequests.subtract(1, ordering: .relaxed) }
            guard let requester = try? EndpointId(parsing: peer), access.now.owner == requester else {
                return refuse("only the server's owner may read its audit log")
            }
            guard let earliest = since.isEmpty ? "" : AuditLog.earliestTime(since) else {
                return refuse("since '\(displaySafe(since, maxLength: 64))': expected a UTC time or an age like 30m")
            }
            let events: [AuditEvent]
            do { events = try AuditLog.read(path: audit.path).events.filter { $0.time >= earliest } } catch {
                logger.warning("reading the audit log for \(peer): \(error)")
                return refuse("the server could not read its audit log")
            }
            var lines: [String] = []
            var bytes = 0
            for event in events.reversed() {
                let line = event.line
                guard lines.count < Self.maxAuditEvents, bytes + line.utf8.count <= Self.maxAuditBytes else { break }
                if line.utf8.count <= ControlMessage.maxAuditText {
                    lines.append(line)
                    bytes += line.utf8.count
                }
            }
            for line in lines.reversed() { session.send(.auditPart(last: false, refused: false, text: line)) }
            let left = events.count - lines.count
            session.send(
                .auditPart(
                    last: true, refused: false,
                    text: left == 0 ? "" : "\(left) earlier event(s) not sent: 'usbp2pd audit' on the server has them"))
        }
    }
    static let maxAuditRequests = 2
    // (What the laptop's service passes back of a delegated command's output, 64 KiB,
    // holds them.)
    static let maxAuditEvents = 200
    static let maxAuditBytes = 48 << 10
    private let auditRequests = Atomic<Int>(0)

    /// The names of the devices `peer` may use ("manufacturer product").
    func deviceNames(for peer: String) -> [DeviceName] {
        let allows = access.allows(for: peer)
        return namedDevices().filter(allows).compactMap { d in
            DeviceName(busid: d.busid, name: [d.manufacturer, d.product].compactMap { $0 }.joined(separator: " "))
        }
    }

    /// The exportable devices with their names, listed once per change of the device set,
    /// not per session or page. A listing that began before a change is not kept (it may
    /// miss the device that came), nor one that failed.
    func namedDevices() -> [USBDeviceInfo] {
        let (generation, kept) = knownDevices.withLock { ($0.generation, $0.devices) }
        if let kept { return kept }
        // A failed listing is not kept: the next caller tries again.
        guard let devices = try? exporter.exportableDevices() else { return [] }
        knownDevices.withLock { if $0.generation == generation { $0.devices = devices } }
        return devices
    }
    private let knownDevices = Mutex<(generation: Int, devices: [USBDeviceInfo]?)>((0, nil))

    /// Lists the devices anew on the notices queue (a new device's strings are read there,
    /// not on a session's reader or the status page's thread: `KernelStrings`), then
    /// gives each client its devices' names and a devices-changed notice. Called from the
    /// USB thread (hotplug), which must not wait for a device.
    func devicesChanged() {
        knownDevices.withLock { $0 = ($0.generation &+ 1, nil) }
        notices.async { [self] in
            _ = namedDevices()
            for (peer, session) in registry.sessionsByPeer {
                session.send(.deviceNames(deviceNames(for: peer)))
                session.send(.devicesChanged)
            }
        }
    }
    private let notices = DispatchQueue(label: "usbp2pd-device-notices")

    /// An import ended, so its device is free: every client is told the devices changed,
    /// and one that wants it and was refused "busy" (its own earlier session still held
    /// it, in its grace period) attaches it now instead of waiting for a hotplug.
    private func deviceFreed() {
        notices.async { [self] in
            for (_, session) in registry.sessionsByPeer { session.send(.devicesChanged) }
        }
    }

    /// A connection to the listener: admitted (`admission`: per source, fair when full),
    /// then served on a thread of its own.
    private func serveDirect(_ socket: Socket) {
        let source = Endpoint(parsing: socket.peer, defaultPort: 0)?.host ?? socket.peer
        serveAdmitted(socket, via: socket, source: source)
    }

    /// Admits a connection to its handshake and serves it on a thread of its own, or
    /// refuses it (with a rate-limited log line).
    private func serveAdmitted(_ socket: Socket, via transport: any ByteStream, source: String) {
        guard let ticket = admit(transport, source: source) else { return }
        do {
            try OSThread.detach(name: "session-conn") { [self] in
                serve(socket, via: transport, path: "direct \(transport.peer)", ticket: ticket)
            }
        } catch {
            admission.release(ticket)
            logger.warning("\(transport.peer): refused: \(error)")
            transport.close()
        }
    }

    /// A handshake slot for `transport`, or nil (it is then closed, with a log line).
    private func admit(_ transport: any ByteStream, source: String) -> ConnectionAdmission.Ticket? {
        do throws(ConnectionAdmission.Refusal) {
            return try admission.admit(source: source) { transport.shutdown() }
        } catch {
            noisy.log(logger, .warning, kind: "admission", "\(transport.peer): refused, \(error)")
            transport.shutdown()
            transport.close()
            return nil
        }
    }

    /// TLS (refusing keys not on the allowlist), then the pairing exchange or the
    /// session's hellos, within `handshakeSeconds` in all; the admission ticket goes when
    /// that part is over. Until then the connection holds a thread and a slot: a stranger
    /// who trickles its pairing request after a quick TLS handshake runs out of time like
    /// one who trickles the handshake itself.
    /// - Parameter path: how the laptop reached it ("direct ADDRESS", "relay ADDRESS"), as
    ///   the status page, the audit log and the service's status show it.
    private func serve(
        _ socket: Socket, via transport: any ByteStream, path: String, ticket: ConnectionAdmission.Ticket
    ) {
        socket.setReceiveTimeout(seconds: Int(Self.handshakeSeconds))
        let deadline = deadlines.schedule(after: Self.handshakeSeconds) { transport.shutdown() }
        defer { admission.release(ticket) }
        do {
            let stream = try TLSStream(socket: transport, context: tls)
            guard let peer = stream.connection.peer else { throw TLSError.peerRefused("no peer key") }
            if stream.connection.applicationProtocol == PairingExchange.alpn {
                pairing(stream)  // answers, closes the stream, logs what became of it
                if !deadlines.cancel(deadline) {
                    refusedHandshakes.add(1, ordering: .relaxed)
                    noisy.log(
                        logger, .notice, kind: "refused",
                        "\(transport.peer): cut off: pairing not done within \(Int(Self.handshakeSeconds)) s")
                }
                return
            }
            // The device names go first: a client that selects a device by name matches
            // it in the device list its first channel brings, which must not overtake them
            // (reading the names opens every device, slow on a fresh start).
            let names = ControlMessage.deviceNames(deviceNames(for: peer.description))
            let session = try registry.accept(stream, peer: peer.description, path: path, first: [names])
            logger.info(
                "\(peer) on \(path): \(stream.connection.cipherName ?? "TLS 1.3"), records sealed by "
                    + (stream.recordsGoToKernel ? "the kernel (kernel TLS)" : "usbp2pd"))
            // Past the deadline the transport is cut: the session waits for the client to
            // resume it, as after any drop.
            deadlines.cancel(deadline)
            // From here the session's pings keep the link busy; a silent one is dead.
            paths.connected(session)
        } catch {
            let late = !deadlines.cancel(deadline)
            refusedHandshakes.add(1, ordering: .relaxed)
            let reason = late ? "not done within \(Int(Self.handshakeSeconds)) s (\(error))" : "\(error)"
            noisy.log(logger, .notice, kind: "refused", "\(transport.peer): refused: \(reason)")
            transport.shutdown()
            transport.close()
        }
    }

    private func acceptFromRelay(token: [UInt8], from: EndpointId, relay: Endpoint, relayId: EndpointId?) {
        // A client not on the allowlist is taken up too, now and then, so the handshake can
        // refuse it with an alert that tells it why (silence would only time out).
        // While pairing is open, strangers may be laptops pairing through the relay.
        if !pairingOpen(), (try? Allowlist.load(from: allowlistPath).contains(from)) != true {
            let now = monotonicSeconds()
            let due = lastStrangerAccepted.withLock { last in
                guard now - last >= Self.strangerInterval else { return false }
                last = now
                return true
            }
            guard due else {
                noisy.log(logger, .info, kind: "stranger", "relay: \(from) is not on the allowlist; not answering")
                return
            }
        }
        guard relayAccepts.add(1, ordering: .relaxed).newValue <= Self.maxRelayAccepts else {
            relayAccepts.subtract(1, ordering: .relaxed)
            noisy.log(
                logger, .info, kind: "relay-full",
                "relay: \(Self.maxRelayAccepts) clients already being taken up; not answering \(from)")
            return
        }
        do {
            try OSThread.detach(name: "relay-accept") { [self] in
                defer { relayAccepts.subtract(1, ordering: .relaxed) }
                do {
                    let (stream, _) = try RelayClient.register(
                        .accept(token: token), at: relay, relayId: relayId, identity: identity)
                    guard let socket = stream.socket as? Socket else { return }
                    // All of these come from the relay's address: one source, bounded
                    // like any other, and by `maxRelayAccepts` before that, which holds
                    // only while the handshake runs on this thread.
                    guard let ticket = admit(stream, source: "the relay") else { return }
                    serve(socket, via: stream, path: "relay \(relay)", ticket: ticket)
                } catch {
                    logger.warning("relay: accepting \(from): \(error)")
                }
            }
        } catch {
            relayAccepts.subtract(1, ordering: .relaxed)
            logger.warning("relay: not accepting \(from): \(error)")
        }
    }
}
