import ArgumentParser
import CLISupport
import ClientControl
import Config
import Dispatch
import FileSystem
import Identity
import Log
import OSThreads
import Sockets
import Synchronization
import Systemd

#if canImport(Glibc)
    import Glibc
#endif

/// `usbp2p-client serve`: the laptop's service (under systemd: usbp2p-client.service).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run this laptop's service: its identity, its paired servers and the devices it keeps attached.",
        discussion: """
            One service per laptop, as root (vhci_hcd needs it), normally started by systemd \
            (usbp2p-client.service, which the .deb installs and enables). It listens on \
            service.socket (default /run/usbp2p-client/control.sock, mode 0660, group \
            usbp2p): root and members of the usbp2p group use it through the CLI without \
            sudo ('pair', 'list', 'attach', 'detach', 'status', 'bridge', 'peers', 'forget'). \
            What 'attach' asks for is kept (state_directory/wishes) and attached again after \
            network changes, the server's restarts and this laptop's reboots, until 'detach'.
            """)

    @OptionGroup var options: CommonOptions

    func run() throws {
        let config = try options.loadConfig(for: Client.self)
        let log = options.logger(for: Client.self, config: config)
        guard getuid() == 0 else {
            throw CLIError("the service runs as root (vhci_hcd needs it): sudo systemctl start usbp2p-client")
        }
        let notifier = SystemdNotifier()
        let stateDirectory = config.string("state_directory")
        for name in AtomicFile.removeStaleTemporaries(in: stateDirectory) {
            log.notice("removed \(stateDirectory)/\(name), a write cut short before this start")
        }
        takeOverEarlierState(into: stateDirectory, log: log)
        let identity = try loadIdentity(config: config, log: log)
        let service = try ClientService(config: config, identity: identity, log: log)
        let path = config.string("service.socket")
        let socket = try ServiceSocket(path: path, log: log) { request in service.handle(request, config: config) }
        socket.start()
        service.start()
        notifier.ready(status: "serving on \(path)")
        log.notice("ready: \(identity.endpointId), requests on \(path)")
        onTerminationSignal { signalNumber in
            log.notice("stopping (signal \(signalNumber)): detaching the devices; the wishes stay")
            notifier.stopping(status: "detaching")
            socket.stop()
            service.stop()
            Glibc.exit(0)
        }
        dispatchMain()
    }
}

/// Where `sudo usbp2p-client` kept root's identity and peers before the service existed.
let earlierRootState = "/root/.local/state/usbp2p"

/// The first start of the service on a laptop that used usbp2p-client before: root's
/// identity (the one `sudo usbp2p-client pair` paired with), its peers and ways become the
/// service's, so those pairings keep working; users' own identities cannot be (servers know
/// them by other keys), and the log says which were left and how to pair again.
func takeOverEarlierState(into stateDirectory: String, log: Logger) {
    guard !AtomicFile.exists("\(stateDirectory)/identity.key") else { return }
    let earlierKey = "\(earlierRootState)/identity.key"
    if AtomicFile.exists(earlierKey) {
        do {
            for name in ["identity.key", "peers", "ways"] where AtomicFile.exists("\(earlierRootState)/\(name)") {
                let bytes = try AtomicFile.read("\(earlierRootState)/\(name)", maxSize: 1 << 20)
                if !AtomicFile.isDirectory(stateDirectory) {
                    try AtomicFile.createDirectory(stateDirectory, mode: 0o700)
                }
                try AtomicFile.write(bytes, to: "\(stateDirectory)/\(name)", mode: 0o600)
            }
            let peers = (try? PeerList.load(from: "\(stateDirectory)/peers"))?.entries ?? []
            let identity = (try? KeyFile.load(from: "\(stateDirectory)/identity.key"))?.endpointId
            log.notice(
                "took over root's earlier identity \(identity.map { "\($0)" } ?? "?") from \(earlierRootState) and its "
                    + "\(peers.count) paired server(s): \(peers.map { $0.name.isEmpty ? "\($0.id)" : $0.name }.joined(separator: ", "))"
            )
        } catch {
            log.warning("could not take over root's earlier identity from \(earlierRootState): \(error); starting anew")
        }
    }
    // Users who paired as themselves: their servers know another key.
    let homes = AtomicFile.names(in: "/home").map { "/home/\($0)" }
    for home in homes where AtomicFile.exists("\(home)/.local/state/usbp2p/peers") {
        log.notice(
            "\(home)/.local/state/usbp2p holds pairings made with that user's own identity, which this service "
                + "does not have: pair those servers again (usbp2p-client pair CODE) to use them through it")
    }
}

extension ClientService {
    /// Commands the service runs itself (they need its sessions and wishes), and those it
    /// runs as its own program with its configuration (one-off: their output as printed).
    static let native: Set<String> = ["attach", "detach", "status", "bridge", "view"]
    static let delegated: Set<String> = [
        "pair", "list", "peers", "forget", "identity", "share", "unshare", "audit",
    ]

    func handle(_ request: ServiceRequest, config: ConfigFile) -> ServiceReply {
        if request.arguments.contains(where: { $0 == "--config" || $0.hasPrefix("--config=") }) {
            return .failure("the service uses its own configuration: leave --config out, or run the command as root")
        }
        switch request.command {
        case "attach": return attach(request.arguments)
        case "detach": return detach(request.arguments)
        case "status": return status(request.arguments)
        case "bridge": return bridge(request.arguments)
        case "view": return view(request.arguments)
        case let command where Self.delegated.contains(command):
            return Self.runAsThisProgram([command] + request.arguments + ["--config", config.path], log: log)
        default:
            return .failure("the service does not take '\(request.command)'")
        }
    }

    /// The longest a delegated command may take (pairing waits for the user's button).
    static let delegatedSeconds = 150.0

    /// Runs this executable with `arguments`, within `delegatedSeconds`, and returns what it
    /// printed (each stream cut at a quarter of a message) and its exit status.
    static func runAsThisProgram(_ arguments: [String], log: Logger) -> ServiceReply {
        var path = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &path, path.count - 1)
        guard length > 0 else { return .failure("the service cannot find its own program (/proc/self/exe)") }
        let program = String(decoding: path[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        do {
            let result = try Subprocess.run(
                program, arguments: arguments, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
                seconds: delegatedSeconds, limit: ServiceChannel.maxMessage / 4)
            if result.timedOut {
                log.warning("\(arguments[0]) ran out of its \(Int(delegatedSeconds)) s and was stopped")
            }
            return ServiceReply(
                status: result.status, standardOutput: String(decoding: result.standardOutput, as: UTF8.self),
                standardError: String(decoding: result.standardError, as: UTF8.self)
                    + (result.timedOut ? "stopped after \(Int(delegatedSeconds)) s\n" : ""))
        } catch {
            return .failure("the service could not run \(arguments[0]): \(error)")
        }
    }
}

/// The service's Unix socket: one request, one reply per connection, a few at a time.
final class ServiceSocket: @unchecked Sendable {
    static let group = "usbp2p"
    /// Requests served at once (an attach may wait for the server for 20 s).
    static let maxAtOnce = 8
    private let listener: Socket
    private let path: String
    private let log: Logger
    private let handle: @Sendable (ServiceRequest) -> ServiceReply
    private let busy = Atomic<Int>(0)

    init(path: String, log: Logger, handle: @escaping @Sendable (ServiceRequest) -> ServiceReply) throws {
        let directory = AtomicFile.parentDirectory(of: path)
        do throws(SystemError) {
            if !AtomicFile.isDirectory(directory) { try AtomicFile.createDirectory(directory, mode: 0o755) }
            listener = try UnixSocket.listen(at: path, mode: 0o600)
            if try UnixSocket.give(path, toGroup: Self.group) {
                try systemCall("chmod", path: path) { chmod(path, 0o660) }
            } else {
                log.notice(
                    "no group '\(Self.group)' on this machine: only root may use the service "
                        + "(groupadd --system \(Self.group), then restart it)")
            }
        } catch {
            throw CLIError("service socket \(path): \(error)")
        }
        self.path = path
        self.log = log
        self.handle = handle
    }

    func start() {
        do {
            try OSThread.detach(name: "service-accept") { [self] in
                AcceptLoop.run(
                    name: "service socket \(path)",
                    accept: { () throws(SystemError) in try UnixSocket.accept(on: listener) },
                    failing: { log.warning("service socket: accept: \($0); trying again") }, serve: serve)
            }
        } catch {
            log.error("service socket: not served: \(error)")
        }
    }

    /// The file goes first: a service started meanwhile binds a socket of its own there,
    /// which this one's stop must not remove.
    func stop() {
        unlink(path)
        listener.shutdown()
    }

    private func serve(_ client: Socket) {
        guard busy.add(1, ordering: .relaxed).newValue <= Self.maxAtOnce else {
            busy.subtract(1, ordering: .relaxed)
            try? ServiceChannel.send(ServiceReply.failure("the service is busy; try again in a moment"), over: client)
            client.close()
            return
        }
        do {
            try OSThread.detach(name: "service-request") { [self] in
                defer {
                    client.close()
                    busy.subtract(1, ordering: .relaxed)
                }
                client.setReceiveTimeout(seconds: 5)
                let reply: ServiceReply
                do throws(ServiceChannelError) {
                    reply = handle(try ServiceChannel.receive(ServiceRequest.self, from: client))
                } catch {
                    reply = .failure("\(error)")
                }
                try? ServiceChannel.send(reply, over: client)
            }
        } catch {
            busy.subtract(1, ordering: .relaxed)
            client.close()
        }
    }
}

/// The CLI's side: asks the running service, when there is one.
enum ServiceConnection {
    /// The service's reply to `command arguments`, or nil when no service runs here.
    /// Throws when one runs but this user may not use it.
    static func ask(_ command: String, _ arguments: [String], socketPath: String) throws -> ServiceReply? {
        let socket: Socket
        do throws(SystemError) { socket = try UnixSocket.connect(to: socketPath) } catch {
            switch error.errno {
            case ENOENT, ECONNREFUSED: return nil
            case EACCES, EPERM:
                let user = getenv("USER").map { String(cString: $0) } ?? "$USER"
                throw CLIError(
                    "you may not use this laptop's usbp2p-client service: join the \(ServiceSocket.group) group "
                        + "(sudo usermod -aG \(ServiceSocket.group) \(user), then log in again), or use sudo")
            default: throw CLIError("the usbp2p-client service at \(socketPath): \(error)")
            }
        }
        defer { socket.close() }
        // An attach waits for its server, a pairing for the button: the reply may take long.
        socket.setReceiveTimeout(seconds: Int(ClientService.delegatedSeconds) + 30)
        do {
            try ServiceChannel.send(ServiceRequest(command, arguments), over: socket)
            return try ServiceChannel.receive(ServiceReply.self, from: socket)
        } catch {
            throw CLIError("the usbp2p-client service did not answer: \(error)")
        }
    }

    /// Whether a service answers at `socketPath` (for this user or not).
    static func isRunning(socketPath: String) -> Bool {
        do throws(SystemError) {
            try UnixSocket.connect(to: socketPath).close()
            return true
        } catch {
            return error.errno == EACCES || error.errno == EPERM
        }
    }

    /// Prints the reply as the command would have, and ends with its status.
    static func finish(with reply: ServiceReply) throws -> Never {
        for (fd, text) in [(Int32(1), reply.standardOutput), (Int32(2), reply.standardError)] {
            var bytes = Array(text.utf8)[...]
            while !bytes.isEmpty {
                let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                bytes = bytes.dropFirst(n)
            }
        }
        throw ExitCode(reply.status)
    }

    /// Whether this invocation goes to the service: only without --config (an explicit
    /// configuration means this process's own state), and when one runs.
    static func forward(_ command: String, options: CommonOptions) throws {
        guard options.config == nil else { return }
        let config = try options.loadConfig(for: Client.self)
        let arguments = Array(CommandLine.arguments.drop { $0 != command }.dropFirst())
        guard let reply = try ask(command, arguments, socketPath: config.string("service.socket")) else { return }
        try finish(with: reply)
    }

    /// What to tell a user who is not root when no service runs.
    static let startHint =
        "no usbp2p-client service runs on this laptop: sudo systemctl enable --now usbp2p-client "
        + "(installed with the .deb), or run this as root"
}
