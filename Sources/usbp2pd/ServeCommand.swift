import ArgumentParser
import CLISupport
import Config
import Dispatch
import Exporter
import Sockets
import USBHost

#if canImport(Glibc)
    import Glibc
#endif

/// `usbp2pd serve`: share this machine's USB devices.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Share this machine's USB devices (runs until stopped with SIGTERM or Ctrl-C).",
        discussion: """
            Clients on the allowlist (state_directory/allowlist, see 'usbp2pd allow') reach the \
            devices through an end-to-end encrypted session: directly on session.listen (found \
            on the LAN by mDNS, and through a port the router forwards when it maps one), or \
            through the relay at relay.address, from where sessions move to a direct path, \
            hole-punched if need be (reach.direct). Plain USB/IP over TCP, which the kernel's own \
            `usbip attach` imports, has no encryption and no authentication: it is off unless \
            usbip.enabled is set or --usbip-listen is given, and listens on loopback unless told otherwise.
            """)

    @OptionGroup var options: CommonOptions

    @Option(
        help: ArgumentHelp(
            "Serve plain USB/IP on this address (overrides usbip.enabled and usbip.listen).", valueName: "host:port"))
    var usbipListen: String?

    func run() throws {
        let config = try options.loadConfig(for: Server.self)
        let log = options.logger(for: Server.self, config: config)
        var listen = config.boolean("usbip.enabled") ? config.string("usbip.listen") : nil
        if let usbipListen {
            if let problem = ConfigChecks.listenAddress(.string(usbipListen)) {
                throw ValidationError("--usbip-listen: \(problem)")
            }
            listen = usbipListen
        }
        let usbipEndpoint = listen.flatMap { Endpoint(parsing: $0, defaultPort: 3240) }
        guard
            usbipEndpoint != nil || !config.string("session.listen").isEmpty || !config.string("relay.address").isEmpty
        else {
            throw CLIError(
                "nothing to serve: session.listen and relay.address are empty and plain USB/IP is off (\(config.path))")
        }
        let identity = try loadIdentity(config: config, log: log)
        let configured = config.integer("usb_thread_cpu")
        let cpu = configured >= 0 ? configured : max(0, sysconf(Int32(_SC_NPROCESSORS_ONLN)) - 1)

        let usb: USBContext
        let server: USBIPServer
        let sessions: SessionService
        do {
            usb = try USBContext(eventThreadCPU: cpu, logger: log)
            server = try USBIPServer(
                exporter: USBIPExporter(usb: usb, logger: log), endpoint: usbipEndpoint, logger: log)
            sessions = try SessionService(identity: identity, config: config, usbip: server, logger: log)
        } catch {
            throw CLIError("\(error)")
        }
        do {
            // Devices coming and going, in the log (and, later, to connected clients).
            let hotplug = try usb.onHotplug { event in
                sessions.devicesChanged()
                switch event {
                case .arrived(let d):
                    log.info("USB device arrived: \(d.busid) (\(hex4(d.idVendor)):\(hex4(d.idProduct)))")
                case .left(let d): log.info("USB device left: \(d.busid) (\(hex4(d.idVendor)):\(hex4(d.idProduct)))")
                }
            }
            if !hotplug { log.notice("libusb has no hotplug support here: devices are found when listed") }
        } catch {
            log.warning("no hotplug events: \(error)")
        }
        if let thread = usb.eventThread {
            log.debug("USB thread \(thread.threadID), CPU mask 0x\(String(thread.affinity, radix: 16))")
        }
        if let endpoint = usbipEndpoint, !["127.", "::1"].contains(where: { endpoint.host.hasPrefix($0) }) {
            log.warning(
                "plain USB/IP on \(endpoint) has no encryption and no authentication: "
                    + "anyone who can reach it can use every exported device")
        }
        server.start()
        sessions.start()

        // Stop on SIGTERM (systemd) and SIGINT (Ctrl-C): the kernel releases the devices
        // (usbfs) as the process exits; importers see their connection close.
        onTerminationSignal { signalNumber in
            log.notice("stopping (signal \(signalNumber))")
            sessions.stop()
            server.stop()
        }
        dispatchMain()
    }
}
