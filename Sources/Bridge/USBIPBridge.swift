import DeviceChoice
import FileSystem
import Log
import OSThreads
import Sockets
import USBIP

#if canImport(Glibc)
    import Glibc
#endif

/// The paired server a bridge serves from, as the laptop's service keeps its session.
public protocol BridgeUpstream: Sendable {
    /// The devices the server offers this laptop now and what it calls them (by bus id);
    /// throws why there are none to give (the server cannot be reached, say).
    func offeredDevices() throws -> (devices: [ExportedDevice], names: [String: String])
    /// Hands `client` over to the server's USB/IP service: `request` (the OP_REQ_IMPORT
    /// already read from it) goes first, and from then on the two talk directly, through
    /// the session. Owns `client` from the call on, also when it throws.
    func carry(_ client: Socket, request: [UInt8]) throws
}

/// A USB/IP server on this laptop for the devices of a paired server: any USB/IP client
/// (the kernel's `usbip attach`, usbip-win2 through WSL2's port forwarding) lists and
/// imports them as from usbip-host, while the bytes to the server stay in the session.
///
/// The bridge answers the op phase itself (the device list, from what the server offers
/// and the user chose; an import of anything else is refused), then passes the client's
/// connection to the session as a channel's local end: the server's usbp2pd answers the
/// import (busy, or the device) and carries the URBs, and a detach or an unplug ends the
/// channel as it ends a vhci import. No thread and no copy of its own past the op phase.
public final class USBIPBridge: @unchecked Sendable {
    public struct Settings: Sendable {
        public var endpoint: Endpoint
        /// The devices served: these, keyboards too; empty: every device but keyboards.
        public var devices: [DeviceSelector]
        /// The whole op phase (request, the server's list, the reply) within this.
        public var opPhaseSeconds: Double
        /// Connections in their op phase at once; more are closed at once.
        public var maxAtOnce: Int
        /// Which users of this machine may use the bridge (by uid): a connection whose
        /// other end is a socket of another user is closed before its request is read
        /// (`LocalPeer`). Not checked: connections from elsewhere (a bridge told to listen
        /// beyond loopback) and from loopback without a socket of this machine behind
        /// them (WSL2's forwarding from Windows). Nil: anyone who reaches it.
        public var localUsers: (@Sendable (uid_t) -> Bool)?

        public init(
            endpoint: Endpoint, devices: [DeviceSelector], opPhaseSeconds: Double = 30, maxAtOnce: Int = 8,
            localUsers: (@Sendable (uid_t) -> Bool)? = nil
        ) {
            self.endpoint = endpoint
            self.devices = devices
            self.opPhaseSeconds = opPhaseSeconds
            self.maxAtOnce = maxAtOnce
            self.localUsers = localUsers
        }
    }

    /// What the bridge has done since it started, for `usbp2p-client bridge`.
    public struct Counts: Equatable, Sendable {
        public var listed = 0
        public var imported = 0
        public var refused = 0
    }

    public let settings: Settings
    /// Where it listens (the port the system chose, if the settings gave 0).
    public let endpoint: Endpoint
    private let listener: TCP.Listener
    private let upstream: any BridgeUpstream
    private let log: Logger
    private let deadlines: Deadlines
    private let noisy = LogRateLimit(clock: monotonicSeconds)
    private let monitor = Monitor()
    private var acceptThread: OSThread?
    /// Connections in their op phase, by number: their socket (shut at stop) and thread.
    private var active: [UInt64: (socket: Socket, thread: OSThread?)] = [:]
    /// Op-phase threads that ended, for the accept thread or `stop` to join.
    private var ended: [OSThread] = []
    /// The connections handed to the session (the session closes each when its import
    /// ends): `stop` shuts those still open, which ends their imports.
    private var carried: [Socket] = []
    private var nextConnection: UInt64 = 0
    private var stopped = false
    private var counted = Counts()

    /// Binds `settings.endpoint`; `start` serves it.
    public init(settings: Settings, upstream: any BridgeUpstream, log: Logger) throws {
        self.settings = settings
        self.upstream = upstream
        self.log = log
        listener = try TCP.Listener(endpoint: settings.endpoint)
        endpoint = listener.endpoint
        deadlines = try Deadlines(name: "bridge-deadlines")
    }

    public var counts: Counts { monitor.withLock { counted } }

    public func start() throws(ThreadStartError) {
        let thread = try OSThread.start(name: "bridge-accept") { [self] in
            AcceptLoop.run(
                name: "bridge on \(endpoint)", accept: { () throws(SystemError) in try listener.accept() },
                failing: { log.warning("bridge on \(endpoint): accept: \($0); trying again") },
                serve: admit)
        }
        monitor.withLock { acceptThread = thread }
    }

    /// Stops listening, ends every op phase under way and every import it passed on (the
    /// client sees the device go, as on an unplug; the server releases it).
    public func stop() {
        let (accepting, sockets) = monitor.withLock { () -> (OSThread?, [Socket]) in
            stopped = true
            defer {
                acceptThread = nil
                carried.removeAll()
            }
            return (acceptThread, active.values.map(\.socket) + carried)
        }
        listener.socket.shutdown()
        accepting?.join()
        listener.socket.close()
        for socket in sockets { socket.shutdown() }
        // Each op phase ends within its deadline (sooner: its socket is shut now); the
        // accept thread, joined above, has given each its thread.
        let threads = monitor.withLock { () -> [OSThread] in
            if !monitor.wait(until: monotonicSeconds() + settings.opPhaseSeconds + 5, unless: { active.isEmpty }) {
                log.warning("bridge on \(endpoint): \(active.count) op phases did not end; left running")
            }
            defer { ended.removeAll() }
            return ended
        }
        for thread in threads { thread.join() }
    }

    /// On the accept thread: a thread for the connection's op phase, or a close.
    private func admit(_ client: Socket) {
        let finished = monitor.withLock { () -> [OSThread] in
            defer { ended.removeAll() }
            return ended
        }
        for thread in finished { thread.join() }
        if let refusal = refusal(of: client) {
            monitor.withLock { counted.refused += 1 }
            noisy.log(log, .notice, kind: "bridge-user", "bridge: \(client.peer): \(refusal): closed")
            client.close()
            return
        }
        let number: UInt64? = monitor.withLock {
            guard !stopped, active.count < settings.maxAtOnce else { return nil }
            nextConnection += 1
            active[nextConnection] = (client, nil)
            return nextConnection
        }
        guard let number else {
            noisy.log(
                log, .notice, kind: "bridge-busy",
                "bridge: \(client.peer): closed, \(settings.maxAtOnce) op phases under way")
            client.close()
            return
        }
        do {
            let thread = try OSThread.start(name: "bridge-op") { [self] in
                serve(client)
                monitor.withLock {
                    if let thread = active.removeValue(forKey: number)?.thread { ended.append(thread) }
                    monitor.broadcast()
                }
            }
            monitor.withLock {
                // The thread may have ended already: then it is joined here.
                if active[number] != nil { active[number]?.thread = thread } else { ended.append(thread) }
            }
        } catch {
            monitor.withLock { _ = active.removeValue(forKey: number) }
            log.warning("bridge: \(client.peer): \(error)")
            client.close()
        }
    }

    /// Why `client` may not use the bridge (`Settings.localUsers`), or nil.
    private func refusal(of client: Socket) -> String? {
        guard let mayUse = settings.localUsers else { return nil }
        switch LocalPeer.owner(of: client) {
        case .remote, .unknownLocal: return nil
        case .user(let uid): return mayUse(uid) ? nil : "user \(LocalPeer.userName(uid) ?? "#\(uid)") may not use it"
        }
    }

    /// The op phase of one connection, within `opPhaseSeconds` in all.
    private func serve(_ client: Socket) {
        let deadline = deadlines.schedule(after: settings.opPhaseSeconds) { client.shutdown() }
        var handedOver = false
        defer {
            deadlines.cancel(deadline)
            if !handedOver { client.close() }
        }
        let request: [UInt8]
        let message: USBIPMessage
        do {
            (request, message) = try Self.readRequest(client)
        } catch {
            noisy.log(log, .notice, kind: "bridge-request", "bridge: \(client.peer): \(error)")
            return
        }
        switch message {
        case .requestDeviceList:
            let devices: [ExportedDevice]
            do { devices = try servedDevices() } catch {
                log.notice("bridge: \(client.peer) asked for the device list: \(error)")
                monitor.withLock { counted.refused += 1 }
                try? client.writeAll(USBIPMessage.replyDeviceList(status: .error, devices: []).encoded)
                return
            }
            try? client.writeAll(USBIPMessage.replyDeviceList(status: .ok, devices: devices).encoded)
            monitor.withLock { counted.listed += 1 }
        case .requestImport(let busid):
            let served: [ExportedDevice]
            do { served = try servedDevices() } catch {
                log.notice("bridge: \(client.peer) asked for \(displaySafe(busid, maxLength: 32)): \(error)")
                monitor.withLock { counted.refused += 1 }
                try? client.writeAll(USBIPMessage.replyImport(status: .error, device: nil).encoded)
                return
            }
            guard served.contains(where: { $0.busid == busid }) else {
                log.notice(
                    "bridge: \(client.peer) asked for \(displaySafe(busid, maxLength: 32)), which this bridge does not serve"
                )
                monitor.withLock { counted.refused += 1 }
                try? client.writeAll(USBIPMessage.replyImport(status: .noDevice, device: nil).encoded)
                return
            }
            // The URB phase has no deadline: the deadline must not have cut the socket.
            guard deadlines.cancel(deadline) else { return }
            // Counted and kept first: once carried, the client may already be done with it.
            let stopping = monitor.withLock { () -> Bool in
                guard !stopped else { return true }
                counted.imported += 1
                carried.removeAll(where: \.isClosed)
                carried.append(client)
                return false
            }
            if stopping { return }  // the bridge stopped meanwhile: the client is closed
            handedOver = true
            do {
                try upstream.carry(client, request: request)
                log.notice("bridge: \(client.peer) imports \(busid) through the session")
            } catch {
                monitor.withLock {
                    counted.imported -= 1
                    counted.refused += 1
                }
                log.notice("bridge: \(client.peer) asked for \(busid): \(error)")
            }
        default:
            noisy.log(
                log, .notice, kind: "bridge-request",
                "bridge: \(client.peer): sent \(message.kind) where a device list or import request belongs")
        }
    }

    /// What the bridge serves of what the server offers now.
    public func servedDevices() throws -> [ExportedDevice] {
        let (offered, names) = try upstream.offeredDevices()
        return Self.served(offered, names: names, selectors: settings.devices)
    }

    /// The devices `selectors` take in of `offered` (keyboards only when named); every
    /// device but keyboards when there are no selectors.
    public static func served(
        _ offered: [ExportedDevice], names: [String: String], selectors: [DeviceSelector]
    ) -> [ExportedDevice] {
        var choice = DeviceChoice(scope: selectors.isEmpty ? .everyDeviceIncludingNew : .named(selectors))
        return choice.decide(offered: offered, name: { names[$0] }).attach
    }

    public struct RequestError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads one op-phase request, exactly its bytes (an import's connection goes on to
    /// the server with nothing of the URB phase read): the 8-byte header, then the bus id
    /// of an OP_REQ_IMPORT. Returns the bytes as read and the message.
    static func readRequest(_ client: Socket) throws -> ([UInt8], USBIPMessage) {
        var bytes: [UInt8] = []
        while true {
            let want = requestBytesMissing(bytes)
            if want == 0 {
                let decoded: DecodedMessage?
                do throws(USBIPError) { decoded = try USBIPMessage.decode(from: bytes[...], receiver: .server) } catch {
                    throw RequestError(description: "not a USB/IP request: \(error)")
                }
                guard let decoded else { throw RequestError(description: "an incomplete request") }
                return (bytes, decoded.message)
            }
            var chunk = [UInt8](repeating: 0, count: want)
            let n = try client.read(into: &chunk)
            guard n > 0 else {
                throw RequestError(
                    description: bytes.isEmpty
                        ? "closed without a request" : "closed (or out of time) after \(bytes.count) bytes of a request"
                )
            }
            bytes += chunk[0..<n]
        }
    }

    /// How many more bytes the request in `bytes` has: up to the header, then the bus id
    /// of an import (OP_REQ_IMPORT, 0x8003); 0 when it is all there.
    static func requestBytesMissing(_ bytes: [UInt8]) -> Int {
        guard bytes.count >= 8 else { return 8 - bytes.count }
        let code = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        return code == 0x8003 ? max(0, 8 + 32 - bytes.count) : 0
    }
}
