import Dispatch
import FileSystem
import Log
import OSThreads
import Sockets
import Synchronization
import USBHost
import USBIP

#if canImport(Glibc)
    import Glibc
#endif

/// Plain USB/IP over TCP, as the kernel's usbipd speaks it: the stock `usbip list` and
/// `usbip attach` work against it. Bound to loopback unless configured otherwise (it has
/// no authentication of its own: the LAN/legacy mode and the test oracle).
///
/// Each connection's protocol is a `USBIPConnection`. On TCP, one thread accepts; each
/// connection gets a thread that reads (blocking) and a `ReplyWriter`: replies produced
/// on the USB thread go straight into the socket when it has room, and what it cannot
/// take waits (bounded in bytes) for a serial queue, so they never wait for the network.
/// A session's channels bring their own bytes and drive theirs through
/// `connection(peer:owner:allows:output:)` (usbp2pd's `USBIPChannel`).
public final class USBIPServer: Sendable {
    /// The plain TCP listener, when there is one (sessions bring their own connections).
    public let listener: TCP.Listener?
    let exporter: USBIPExporter
    let logger: Logger
    /// Lines any client can cause (refusals, broken op requests) are rate-limited.
    let noisy = LogRateLimit(clock: monotonicSeconds)
    private let connections = Atomic<Int>(0)

    /// Connections served at once; more are closed at accept.
    public static let maxConnections = 32
    /// How long a client may take to send its op request, in all (slow clients hold a thread).
    public static let opPhaseTimeoutSeconds = 10
    /// Connections one peer may hold before their op request (a session's peer, or one
    /// address on the plain listener): the 32 connections are shared by everyone, so
    /// one paired laptop opening channels it never uses must not take them all. Imports
    /// are not counted here (each holds a device, and devices are few).
    public static let maxOpPhasePerPeer = 4
    private let opPhase = Mutex<[String: Int]>([:])
    /// The op phase's whole-exchange deadlines.
    let deadlines: Deadlines
    /// The imports in progress, for `endDisallowedImports`.
    private let liveImports = Mutex<[UInt64: LiveImport]>([:])
    private let importNumbers = Atomic<UInt64>(0)

    struct LiveImport: Sendable {
        let device: USBDeviceInfo
        /// Whose connection it is (a session's peer, or the plain listener's client address).
        let owner: String
        let peer: String
        let allows: @Sendable (USBDeviceInfo) -> Bool
        let end: @Sendable () -> Void
        /// Has the import's keeper look at once whether its device is still there.
        let checkPresence: @Sendable () -> Void
    }

    /// Told of each import's start and end, and of each refused (for the audit log).
    let importEvents: @Sendable (ImportEvent) -> Void

    public init(
        exporter: USBIPExporter, endpoint: Endpoint?, logger: Logger,
        importEvents: @escaping @Sendable (ImportEvent) -> Void = { _ in }
    ) throws(SystemError) {
        self.exporter = exporter
        self.logger = logger
        self.importEvents = importEvents
        do throws(ThreadStartError) { deadlines = try Deadlines(name: "usbip-deadlines") } catch {
            throw SystemError(call: "pthread_create", errno: error.errno)
        }
        listener = try endpoint.map { endpoint throws(SystemError) in try TCP.Listener(endpoint: endpoint) }
    }

    /// A new connection's protocol, counted against `owner`'s connections before their
    /// op request (`maxOpPhasePerPeer`) and against `maxConnections`; nil when either is
    /// full (logged). `allows` decides which devices this connection sees and may import
    /// (the access policy for a session's peer); the plain listener's connections see
    /// every one. The caller is its driver (see `USBIPConnection`).
    public func connection(
        peer: String, owner: String, allows: @escaping @Sendable (USBDeviceInfo) -> Bool,
        output: USBIPConnection.Output
    ) -> USBIPConnection? {
        let ownerAdmitted = opPhase.withLock { counts -> Bool in
            guard counts[owner, default: 0] < Self.maxOpPhasePerPeer else { return false }
            counts[owner, default: 0] += 1
            return true
        }
        guard ownerAdmitted else {
            noisy.log(
                logger, .warning, kind: "op-phase",
                "\(peer): refused, \(Self.maxOpPhasePerPeer) connections of \(owner) before their request already")
            return nil
        }
        let opPhaseOver = OnceFlag { [self] in
            opPhase.withLock { counts in
                counts[owner, default: 1] -= 1
                if counts[owner] == 0 { counts[owner] = nil }
            }
        }
        guard connections.add(1, ordering: .acquiringAndReleasing).newValue <= Self.maxConnections else {
            opPhaseOver.run()
            connections.subtract(1, ordering: .acquiringAndReleasing)
            noisy.log(logger, .warning, kind: "full", "\(peer): refused, \(Self.maxConnections) connections already")
            return nil
        }
        return USBIPConnection(
            server: self, peer: peer, owner: owner, allows: allows, output: output, opPhaseOver: opPhaseOver,
            over: OnceFlag { [self] in _ = connections.subtract(1, ordering: .acquiringAndReleasing) })
    }

    /// Serves one connection that arrived another way (a socket) on a thread of its own.
    /// False when the server is full; the socket is then closed.
    public func adopt(
        _ socket: Socket, owner: String, allows: @escaping @Sendable (USBDeviceInfo) -> Bool = { _ in true }
    ) -> Bool {
        let writer = ReplyWriter(socket: socket, logger: logger)
        let output = USBIPConnection.Output(send: { writer.send($0) }, shutdown: { socket.shutdown() })
        guard let connection = connection(peer: socket.peer, owner: owner, allows: allows, output: output) else {
            socket.close()
            return false
        }
        do {
            try OSThread.detach(name: "usbip-conn") { Self.serve(socket, connection, writer) }
        } catch {
            logger.warning("\(socket.peer): refused: \(error)")
            connection.closed("\(error)")
            socket.close()
            return false
        }
        return true
    }

    /// Accepts connections on a thread of its own until `stop()`; `watch` learns whether
    /// the listener can be kept.
    public func start(watch: ListenerWatch? = nil) {
        guard let listener else { return }
        logger.notice("serving USB/IP on \(listener.endpoint)")
        do {
            try OSThread.detach(name: "usbip-accept") { [self] in
                AcceptLoop.run(
                    name: "USB/IP listener \(listener.endpoint)", watch: watch, accept: listener.accept,
                    failing: { logger.warning("accept: \($0); trying again") },
                    recovered: { logger.notice("accepting again") },
                    serve: { socket in
                        _ = adopt(socket, owner: Endpoint(parsing: socket.peer, defaultPort: 0)?.host ?? socket.peer)
                    })
            }
        } catch {
            logger.error("not serving USB/IP: \(error)")
            watch?.notServed("USB/IP listener \(listener.endpoint)", "\(error)")
        }
    }

    public func stop() {
        listener?.socket.shutdown()
    }

    /// The imports in progress: which device, for whom (a session's peer, or an address).
    public var imports: [(busid: String, peer: String)] {
        liveImports.withLock { $0.values.map { ($0.device.busid, $0.owner) } }
    }

    /// Ends each import its connection may no longer have (`allows` now refuses the
    /// device: it was unshared, a rule changed), as if the device had been unplugged: the
    /// importer's vhci port sees the connection end. Returns "PEER: BUSID" of each.
    @discardableResult
    public func endDisallowedImports() -> [String] {
        let ended = liveImports.withLock { imports in
            imports.values.filter { !$0.allows($0.device) }
        }
        for live in ended { live.end() }
        return ended.map { "\($0.peer): \($0.device.busid)" }
    }

    /// A device left (a hotplug event): the imports of that bus id check at once whether
    /// their device is gone, instead of at their next look.
    public func deviceLeft(busid: String) {
        let affected = liveImports.withLock { imports in imports.values.filter { $0.device.busid == busid } }
        for live in affected { live.checkPresence() }
    }

    func register(_ live: LiveImport) -> UInt64 {
        let number = importNumbers.add(1, ordering: .relaxed).newValue
        liveImports.withLock { $0[number] = live }
        return number
    }

    func unregister(_ number: UInt64) {
        liveImports.withLock { _ = $0.removeValue(forKey: number) }
    }

    /// The TCP driver: reads until the connection is done or the stream ends, then waits
    /// for the import's end and the last replies before closing.
    private static func serve(_ socket: Socket, _ connection: USBIPConnection, _ writer: ReplyWriter) {
        defer { socket.close() }
        var reason = "client closed the connection"
        while true {
            let progress: USBIPConnection.Progress?
            do {
                progress = try connection.receive(
                    reading: { bytes, offset, atMost throws(SystemError) in
                        try socket.read(into: &bytes, from: offset, atMost: atMost)
                    },
                    readingInto: { storage throws(SystemError) in try socket.read(into: storage) })
            } catch {
                reason = "\(error)"
                break
            }
            guard let progress else {
                let partial = connection.partialMessageBytes
                if partial > 0 { reason = "the connection ended inside a message (\(partial) bytes of it received)" }
                break
            }
            if progress == .done { break }
        }
        connection.closed(reason)
        connection.waitUntilReleased()
        writer.drain()
    }
}

/// An import began, ended or was refused; `owner` is whose connection it is (a session's
/// peer, or the plain listener's client address).
public enum ImportEvent: Sendable {
    case imported(owner: String, device: USBDeviceInfo)
    case released(owner: String, device: USBDeviceInfo, reason: String)
    case refused(owner: String, busid: String, reason: String)
}

/// An action run at most once, whoever asks first.
final class OnceFlag: Sendable {
    private let done = Atomic<Bool>(false)
    private let action: @Sendable () -> Void
    init(_ action: @escaping @Sendable () -> Void) { self.action = action }
    func run() { if !done.exchange(true, ordering: .acquiringAndReleasing) { action() } }
}
