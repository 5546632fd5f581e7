import ArgumentParser
import AttachStatus
import CLISupport
import Config
import Dispatch
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
        abstract: "Attach devices of a server, so they appear here as if plugged in.",
        discussion: """
            'attach SERVER BUSID...' keeps running: it holds the session to the server \
            (EndpointId@host:port directly, or the EndpointId alone: found on the LAN by \
            mDNS, or through the relay), moves it to a direct path when one is found and \
            back to the relay if that path dies (each path it uses is printed; see also \
            'status'), resumes it after a network drop without the devices noticing, \
            re-attaches them if the server was out of reach for longer than \
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

    @Argument(
        help: ArgumentHelp(
            "The server, then the bus ids of its devices as 'list' shows them (e.g. 1-1); with --usbip, one bus id.",
            valueName: "server busid"))
    var arguments: [String]

    /// How long the server may take to answer the import.
    static let replyTimeoutSeconds = 10

    var busids: [String] { usbip == nil ? Array(arguments.dropFirst()) : arguments }

    func validate() throws {
        if let usbip {
            guard Endpoint(parsing: usbip, defaultPort: usbipDefaultPort) != nil else {
                throw ValidationError("--usbip: expected host[:port] with a numeric address, got '\(usbip)'")
            }
            guard arguments.count == 1 else { throw ValidationError("with --usbip, give exactly one bus id") }
        } else {
            guard arguments.count >= 2 else { throw ValidationError("expected a server and at least one bus id") }
            _ = try ServerAddress(parsing: arguments[0])
        }
        for busid in busids {
            guard !busid.isEmpty, busid.utf8.count < 32,
                busid.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-" || $0 == ".") })
            else { throw ValidationError("'\(busid)' is not a bus id (digits, '-' and '.', like 1-1 or 3-2.4)") }
        }
    }

    func run() throws {
        let config = try options.loadConfig(for: Client.self)
        let log = options.logger(for: Client.self, config: config)
        guard let usbip else { return try attachThroughSession(config: config, log: log) }
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

    private func attachThroughSession(config: ConfigFile, log: Logger) throws {
        let identity = try loadIdentity(config: config, log: log)
        let address = try ServerAddress(parsing: arguments[0])
        let attached = AttachedDevices(busids: busids, log: log)
        let client = try ServerConnection.client(
            for: address, relay: relayOptions.relay, config: config, identity: identity, log: log, upgrade: true,
            events: SessionEvents(
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
        do { try attached.attach(in: session) } catch {
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
    let busids: [String]
    let log: Logger
    private let lock = Monitor()
    private var ports: [(busid: String, port: Int)] = []

    init(busids: [String], log: Logger) {
        self.busids = busids
        self.log = log
    }

    /// Imports every device over `session` and hands each channel to vhci_hcd.
    func attach(in session: Session) throws {
        for busid in busids { try attach(busid, in: session) }
    }

    /// Attaches every device in a new session, retrying each every 2 s for a while (the
    /// server answers "busy" until it has released the old session's imports).
    func attachAgain(in session: Session, forSeconds limit: Double) {
        var remaining = busids
        let deadline = monotonicSeconds() + limit
        while !remaining.isEmpty, !session.isEnded {
            let busid = remaining.removeFirst()
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
        let channel = try session.openChannel()
        let device = try USBIPClient.importDevice(
            busid: busid, over: channel, timeoutSeconds: AttachCommand.replyTimeoutSeconds)
        let port = try VHCI.attach(socketDescriptor: channel.descriptor, device: device)
        channel.close()  // vhci_hcd holds the socket now; the session pumps its other end
        lock.withLock { ports.append((busid, port)) }
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
