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
/// One thread accepts; each connection gets a thread that reads (blocking) and a serial
/// queue that writes (`ReplyWriter`, bounded in bytes), so replies produced on the USB
/// thread never wait for the network.
public final class USBIPServer: Sendable {
    /// The plain TCP listener, when there is one (sessions bring their own connections).
    public let listener: TCP.Listener?
    private let exporter: USBIPExporter
    private let logger: Logger
    /// Lines any client can cause (refusals, broken op requests) are rate-limited.
    private let noisy = LogRateLimit(clock: monotonicSeconds)
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
    private let deadlines: Deadlines
    /// The imports in progress, for `endDisallowedImports`.
    private let liveImports = Mutex<[UInt64: LiveImport]>([:])
    private let importNumbers = Atomic<UInt64>(0)

    private struct LiveImport: Sendable {
        let device: USBDeviceInfo
        /// Whose connection it is (a session's peer, or the plain listener's client address).
        let owner: String
        let peer: String
        let allows: @Sendable (USBDeviceInfo) -> Bool
        let end: @Sendable () -> Void
    }

    /// Told of each import's start and end, and of each refused (for the audit log).
    private let importEvents: @Sendable (ImportEvent) -> Void

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

    /// Serves one connection that arrived another way (a session's channel) on a thread
    /// of its own. False when the server is full; the socket is then closed.
    /// `allows` decides which devices this connection sees and may import (the access
    /// policy for the session's peer); the plain listener's connections see every one.
    /// `owner` is who the connection is counted against (`maxOpPhasePerPeer`).
    public func adopt(
        _ socket: Socket, owner: String, allows: @escaping @Sendable (USBDeviceInfo) -> Bool = { _ in true }
    ) -> Bool {
        let ownerAdmitted = opPhase.withLock { counts -> Bool in
            guard counts[owner, default: 0] < Self.maxOpPhasePerPeer else { return false }
            counts[owner, default: 0] += 1
            return true
        }
        guard ownerAdmitted else {
            noisy.log(
                logger, .warning, kind: "op-phase",
                "\(socket.peer): refused, \(Self.maxOpPhasePerPeer) connections of \(owner) before their request already"
            )
            socket.close()
            return false
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
            noisy.log(
                logger, .warning, kind: "full", "\(socket.peer): refused, \(Self.maxConnections) connections already")
            socket.close()
            return false
        }
        do {
            try OSThread.detach(name: "usbip-conn") { [self] in
                serve(socket, owner: owner, allows: allows, opPhaseOver: opPhaseOver)
                opPhaseOver.run()
                connections.subtract(1, ordering: .acquiringAndReleasing)
            }
        } catch {
            opPhaseOver.run()
            connections.subtract(1, ordering: .acquiringAndReleasing)
            logger.warning("\(socket.peer): refused: \(error)")
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

    private func serve(
        _ socket: Socket, owner: String, allows: @escaping @Sendable (USBDeviceInfo) -> Bool, opPhaseOver: OnceFlag
    ) {
        defer { socket.close() }
        socket.setReceiveTimeout(seconds: Self.opPhaseTimeoutSeconds)
        // The whole op request within the limit, however it trickles in.
        let deadline = deadlines.schedule(after: Double(Self.opPhaseTimeoutSeconds)) { socket.shutdown() }
        var decoder = USBIPStreamDecoder(receiver: .server)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let request: USBIPMessage
        do {
            defer {
                deadlines.cancel(deadline)
                opPhaseOver.run()
            }
            guard let first = try readMessage(socket, &decoder, &buffer) else { return }
            request = first
        } catch {
            noisy.log(logger, .info, kind: "closed", "\(socket.peer): closed: \(error)")
            return
        }
        switch request {
        case .requestDeviceList:
            do {
                let devices = try exporter.deviceList(where: allows)
                try socket.writeAll(USBIPMessage.replyDeviceList(status: .ok, devices: devices).encoded)
                logger.info("\(socket.peer): listed \(devices.count) devices")
            } catch {
                logger.warning("\(socket.peer): device list: \(error)")
                try? socket.writeAll(USBIPMessage.replyDeviceList(status: .error, devices: []).encoded)
            }
        case .requestImport(let busid):
            serveImport(busid: busid, socket: socket, owner: owner, allows: allows, decoder: &decoder, buffer: &buffer)
        default:
            logger.info("\(socket.peer): closed: \(request.kind) before an import")
        }
    }

    private func serveImport(
        busid: String, socket: Socket, owner: String, allows: @escaping @Sendable (USBDeviceInfo) -> Bool,
        decoder: inout USBIPStreamDecoder,
        buffer: inout [UInt8]
    ) {
        let handle: USBDeviceHandleBox
        do throws(USBIPExporter.ImportRefusal) {
            let (opened, device, facts) = try exporter.beginImport(busid: busid, allows: allows)
            handle = USBDeviceHandleBox(handle: opened, devid: device.devid, facts: facts)
            do throws(SystemError) {
                try socket.writeAll(USBIPMessage.replyImport(status: .ok, device: device).encoded)
            } catch {
                exporter.endImport(opened)
                return
            }
        } catch {
            logger.notice("\(socket.peer): import of \(busid) refused: \(error)")
            importEvents(.refused(owner: owner, busid: busid, reason: "\(error)"))
            try? socket.writeAll(USBIPMessage.replyImport(status: error.status, device: nil).encoded)
            return
        }
        logger.notice("\(socket.peer): imported \(busid)")
        importEvents(.imported(owner: owner, device: handle.facts))
        exporter.counters.imports.add(1, ordering: .relaxed)
        socket.setReceiveTimeout(seconds: 0)

        let gone: @Sendable () -> Void = { [logger] in
            logger.notice("\(busid) is gone; ending the import")
            socket.shutdown()
        }
        let writer = ReplyWriter(socket: socket, logger: logger)
        let session = ImportSession(
            device: handle.handle, devid: handle.devid, logger: logger, counters: exporter.counters,
            maxInFlightBytes: exporter.transferShare, send: { writer.send($0) },
            deviceGone: { gone() })
        let watch: DeviceWatch
        do throws(ThreadStartError) {
            watch = try DeviceWatch(busid: busid, devnum: handle.handle.info.address, gone: gone)
        } catch {
            logger.warning("\(socket.peer): import of \(busid) ended: \(error)")
            exporter.endImport(handle.handle)
            return
        }
        defer { watch.stop() }
        let number = importNumbers.add(1, ordering: .relaxed).newValue
        let revoked = Atomic<Bool>(false)
        liveImports.withLock {
            $0[number] = LiveImport(
                device: handle.facts, owner: owner, peer: socket.peer, allows: allows,
                end: { [logger] in
                    guard !revoked.exchange(true, ordering: .relaxed) else { return }
                    logger.notice(
                        "\(socket.peer): may no longer use \(busid) (unshared, or the rules changed); ending the import"
                    )
                    socket.shutdown()
                })
        }
        defer { liveImports.withLock { _ = $0.removeValue(forKey: number) } }
        var reason = "client closed the connection"
        do {
            while let message = try readMessage(socket, &decoder, &buffer) {
                try session.handle(message)
            }
        } catch {
            reason = "\(error)"
        }
        if revoked.load(ordering: .relaxed) { reason = "no longer allowed" }
        session.end()
        writer.drain()
        exporter.endImport(handle.handle)
        logger.notice("\(socket.peer): released \(busid) (\(reason))")
        importEvents(.released(owner: owner, device: handle.facts, reason: reason))
    }

    /// The next message, reading as needed; nil at end of stream.
    private func readMessage(_ socket: Socket, _ decoder: inout USBIPStreamDecoder, _ buffer: inout [UInt8]) throws
        -> USBIPMessage?
    {
        while true {
            if let message = try decoder.next() { return message }
            let n = try socket.read(into: &buffer)
            if n == 0 {
                if decoder.bufferedByteCount > 0 { throw TruncatedMessage(bytes: decoder.bufferedByteCount) }
                return nil
            }
            decoder.append(buffer[0..<n])
        }
    }

    struct TruncatedMessage: Error, CustomStringConvertible {
        let bytes: Int
        var description: String { "the connection ended inside a message (\(bytes) bytes of it received)" }
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

/// A handle and its devid, crossing from the import to the session.
private struct USBDeviceHandleBox: @unchecked Sendable {
    let handle: USBHost.USBDeviceHandle
    let devid: UInt32
    /// The device as `allows` saw it (with its serial number).
    let facts: USBDeviceInfo
}
