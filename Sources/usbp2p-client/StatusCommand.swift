import ArgumentParser
import AttachStatus
import CLISupport
import Log
import OSThreads
import Session

#if canImport(Glibc)
    import Glibc
#endif

/// `usbp2p-client status`: what each running `attach` is doing.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each running 'attach': its server, the path in use and its RTT, bytes, attached devices.",
        discussion: """
            A path is 'direct ADDRESS' (the server's LAN or public address, or a port its \
            router forwards), 'direct ADDRESS (hole-punched)' (a connection punched through \
            both NATs) or 'relay ADDRESS'. Exits 0 also when nothing is attached.
            """)

    @Flag(
        help:
            "Print JSON. From the service: {\"servers\": [{server, name, path, wishes: [{wish, state}]}], \"bridges\": [{listen, server, name, listed, imported, refused, path}]}; without it: {\"attachments\": [{pid, server, path, connected, rtt_ms, bytes_sent, bytes_received, devices: [{busid, port}]}]}."
    )
    var json = false

    @OptionGroup var options: CommonOptions

    func run() throws {
        try ServiceConnection.forward("status", options: options)
        let (statuses, problems) = AttachStatusDirectory.readAll()
        for problem in problems {
            let line = Array("usbp2p-client: unreadable status file \(problem)\n".utf8)
            _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        }
        if json {
            print("{\"attachments\":[\(statuses.map(\.json).joined(separator: ","))]}")
            return
        }
        if statuses.isEmpty {
            print("no attach is running")
            return
        }
        for status in statuses {
            let rtt = status.roundTripMilliseconds.map { ", RTT \($0) ms" } ?? ""
            print("server \(status.server) (attach, pid \(status.pid))")
            print("  path: \(status.path)\(status.connected ? "" : " (lost, resuming)")\(rtt)")
            print("  bytes: \(status.bytesSent) sent, \(status.bytesReceived) received")
            if status.devices.isEmpty { print("  devices: none attached") }
            for device in status.devices { print("  device \(device.busid) on vhci port \(device.port)") }
        }
    }
}

/// Keeps this attach process's status file current (every 2 s) and removes it at the end.
final class StatusReporter: @unchecked Sendable {
    private let server: String
    private let client: SessionClient
    private let attached: AttachedDevices
    private let log: Logger
    private let directory = AttachStatusDirectory.forThisUser
    private let monitor = Monitor()
    private var stopped = false
    private var thread: OSThread?

    init(server: String, client: SessionClient, attached: AttachedDevices, log: Logger) {
        self.server = server
        self.client = client
        self.attached = attached
        self.log = log
    }

    func start() {
        guard let directory else {
            log.info("no runtime directory (XDG_RUNTIME_DIR): 'usbp2p-client status' will not see this attach")
            return
        }
        let publish: @Sendable () -> Void = { [self] in
            var warned = false
            while true {
                if let session = client.current {
                    let s = session.status
                    let status = AttachStatus(
                        pid: getpid(), server: server, path: s.path, connected: s.connected,
                        roundTripMilliseconds: s.roundTripTime.map { Int(($0 * 1000).rounded()) },
                        bytesSent: s.bytesSent, bytesReceived: s.bytesReceived, devices: attached.attached)
                    do { try AttachStatusDirectory.write(status, in: directory) } catch {
                        if !warned { log.warning("status file in \(directory): \(error)") }
                        warned = true
                    }
                }
                let done: Bool = monitor.withLock {
                    if !stopped { monitor.wait(seconds: 2) }
                    return stopped
                }
                if done { return }
            }
        }
        do { thread = try OSThread.start(name: "status-file", publish) } catch {
            log.warning("'usbp2p-client status' will not see this attach: \(error)")
        }
    }

    func stop() {
        monitor.withLock {
            stopped = true
            monitor.broadcast()
        }
        thread?.join()
        if let directory { AttachStatusDirectory.remove(in: directory, pid: getpid()) }
    }
}
