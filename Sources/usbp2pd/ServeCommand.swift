import AccessPolicy
import ArgumentParser
import Audit
import CLISupport
import Config
import Dispatch
import Exporter
import FileSystem
import Identity
import LocalDiscovery
import Log
import Metrics
import OSThreads
import Sockets
import Systemd
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
        ProcessMemory.limitArenas()
        let base = try options.loadConfig(for: Server.self)
        let card: CardSettings.Loaded
        do throws(ConfigError) { card = try CardSettings.over(base) } catch {
            throw CLIError("the card's settings as applied (settings_file): \(error)")
        }
        let config = card.config
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
        let notifier = SystemdNotifier()
        notifier.status("starting")
        let stateDirectory = config.string("state_directory")
        for name in AtomicFile.removeStaleTemporaries(in: stateDirectory) {
            log.notice("removed \(stateDirectory)/\(name), a write cut short before this start")
        }
        let identity = try loadIdentity(config: config, log: log)
        let secret = try loadPairingSecret(config: config, log: log)
        let audit = AuditLog(path: "\(stateDirectory)/audit.log", logger: log)
        audit.record(AuditEvent(.serviceStarted, result: "usbp2pd \(usbp2pVersion) as \(identity.endpointId)"))
        let appliance = Appliance(config: config, secret: secret, audit: audit, logger: log)
        if let refused = card.refused {
            log.error("the card's settings were refused: \(refused); the last good settings are in effect")
            audit.record(AuditEvent(.settingsRefused, result: refused))
            appliance.update { $0.settingsError = refused }
        }
        if !card.applied.isEmpty {
            log.notice("the card's settings set \(card.applied.joined(separator: ", "))")
            audit.record(AuditEvent(.settingsApplied, result: "card settings: " + card.applied.joined(separator: ", ")))
        }
        appliance.start()
        let configured = config.integer("usb_thread_cpu")
        let cpu = configured >= 0 ? configured : max(0, sysconf(Int32(_SC_NPROCESSORS_ONLN)) - 1)

        let usb: USBContext
        let exporter: USBIPExporter
        let server: USBIPServer
        let sessions: SessionService
        do {
            usb = try USBContext(eventThreadCPU: cpu, logger: log)
            exporter = USBIPExporter(usb: usb, logger: log)
            let late = LateSessions()
            server = try USBIPServer(exporter: exporter, endpoint: usbipEndpoint, logger: log) { event in
                late.sessions?.record(event)
            }
            sessions = try SessionService(
                identity: identity, config: config, configPath: options.config ?? Server.defaultConfigPath,
                usbip: server, exporter: exporter, audit: audit, logger: log,
                pairingOpen: { appliance.window.isOpen }, pairing: { appliance.pair(over: $0) })
            late.sessions = sessions
        } catch {
            appliance.update { $0.failure = "\(error)" }
            audit.record(AuditEvent(.serviceStopped, result: "failed to start: \(error)"))
            notifier.status("failed: \(error)")
            throw CLIError("\(error)")
        }
        appliance.cleared = { sessions.registry.endAll(reason: "the server's allowlist was cleared") }
        do {
            // Devices coming and going, in the log and to connected clients.
            let hotplug = try usb.onHotplug { event in
                sessions.devicesChanged()
                switch event {
                case .arrived(let d):
                    log.info("USB device arrived: \(d.busid) (\(hex4(d.idVendor)):\(hex4(d.idProduct)))")
                case .left(let d):
                    server.deviceLeft(busid: d.busid)
                    log.info("USB device left: \(d.busid) (\(hex4(d.idVendor)):\(hex4(d.idProduct)))")
                }
            }
            if !hotplug { log.notice("libusb has no hotplug support here: devices are found when listed") }
        } catch {
            log.warning("no hotplug events: \(error)")
        }
        // The devices here at start listed and named now, off any request's thread.
        sessions.devicesChanged()
        if let thread = usb.eventThread {
            log.debug("USB thread \(thread.threadID), CPU mask 0x\(String(thread.affinity, radix: 16))")
        }
        if let endpoint = usbipEndpoint, !endpoint.isLoopback {
            log.warning(
                "plain USB/IP on \(endpoint) has no encryption and no authentication: "
                    + "anyone who can reach it can use every exported device")
        }
        let health = ServiceHealth(
            usb: usb, exporter: exporter, sessions: sessions, appliance: appliance, notifier: notifier, logger: log)
        let control = startControlSocket(
            config: config, identity: identity, appliance: appliance, usb: usb, sessions: sessions, health: health,
            log: log)
        let metrics = startMetrics(config: config, health: health, log: log)
        let statusPage = StatusService.start(
            config: config, identity: identity, appliance: appliance, sessions: sessions, log: log)
        let avahi = publishThroughAvahi(
            config: config, identity: identity, sessions: sessions, statusPage: statusPage, log: log)
        server.start(watch: health.listeners)
        sessions.start(watch: health.listeners)
        health.start()
        appliance.update { $0.ready = true }
        notifier.ready(status: "serving")
        log.notice("ready: serving as \(identity.endpointId)")
        let memory = ProcessMemory.keepReturningFree()

        // Stop on SIGTERM (systemd) and SIGINT (Ctrl-C): clients are told the session ends,
        // the kernel releases the devices (usbfs) as the process exits.
        onTerminationSignal { signalNumber in
            log.notice("stopping (signal \(signalNumber))")
            notifier.stopping(status: "stopping: releasing the devices")
            health.stop()
            control?.stop()
            metrics?.stop()
            statusPage?.stop()
            do { try avahi?.withdraw() } catch { log.warning("mDNS: \(error)") }
            sessions.stop()
            server.stop()
            appliance.stop()
            audit.record(AuditEvent(.serviceStopped, result: "signal \(signalNumber)"))
        }
        withExtendedLifetime(memory) { dispatchMain() }
    }
}

/// The session listener and the status page announced through avahi-daemon's services
/// directory (lan.avahi_services) instead of by usbp2pd's own mDNS responder.
private func publishThroughAvahi(
    config: ConfigFile, identity: EndpointIdentity, sessions: SessionService, statusPage: HTTPServer?, log: Logger
) -> AvahiServiceFiles? {
    guard case .avahi(let directory) = SessionService.mdnsAnswerer(config), let port = sessions.sessionPort else {
        return nil
    }
    let files = AvahiServiceFiles(directory: directory)
    do {
        try files.publish(id: identity.endpointId.description, sessionPort: port, statusPort: statusPage?.endpoint.port)
        log.notice("mDNS: avahi announces _usbp2p._tcp (port \(port)) from \(files.sessionFile)")
        return files
    } catch {
        log.warning("mDNS: cannot publish through avahi (\(error)); laptops on the LAN come through the relay")
        return nil
    }
}

/// The session service, for the USB/IP server made before it.
private final class LateSessions: @unchecked Sendable {
    weak var sessions: SessionService?
}

/// The control socket: pairing without a button, status, and (for tests) fault injection.
private func startControlSocket(
    config: ConfigFile, identity: EndpointIdentity, appliance: Appliance, usb: USBContext, sessions: SessionService,
    health: ServiceHealth, log: Logger
) -> ControlSocket? {
    let path = config.string("control.socket")
    guard !path.isEmpty else { return nil }
    let faults = getenv("USBP2PD_FAULT_INJECTION").map { String(cString: $0) } == "1"
    let control: ControlSocket
    do {
        control = try ControlSocket(path: path, logger: log) { words in
            switch (words[0], words.count) {
            case ("pair-open", 2):
                guard let seconds = Int(words[1]), (1...3600).contains(seconds) else {
                    return "error expected seconds from 1 to 3600"
                }
                appliance.openPairing(seconds: Double(seconds), by: "usbp2pd pair --open")
                return "ok pairing is open for \(seconds) s"
            case ("pair-close", 1):
                appliance.closePairing(by: "usbp2pd pair --close")
                return "ok pairing is closed"
            case ("report", 1):
                // The status page's report, as one line of JSON (usbp2pd ui).
                return "ok " + StatusService.report(identity: identity, appliance: appliance, sessions: sessions).json
            case ("status", 1):
                let state = appliance.current
                let window = appliance.window.remainingSeconds.map { "open for \(Int($0)) s more" } ?? "closed"
                return "ok led=\(state.pattern.rawValue) pairing=\(window) attached=\(state.attachedDevices) "
                    + "online=\(state.online) usb-thread=\(health.usbThreadHealthy ? "running" : "stalled")"
            case ("share", 2...), ("unshare", 2), ("owner", 2):
                return sharingRequest(words, sessions: sessions)
            case ("fault", 2) where words[1] == "usb-stall":
                guard faults else { return "error fault injection is off (USBP2PD_FAULT_INJECTION=1 turns it on)" }
                log.warning("fault injection: stopping the USB thread")
                usb.stallEventThreadForTesting()
                return "ok the USB thread is stalled"
            default:
                return "error unknown request '\(words.joined(separator: " "))'"
            }
        }
    } catch {
        // The devices and the button do not need it: serve on, and say what is missing.
        log.warning(
            "control socket \(path): \(error); 'usbp2pd pair' cannot reach this service "
                + "(another usbp2pd may hold it; control.socket sets another path)")
        return nil
    }
    control.start(watch: health.listeners)
    return control
}

/// share DEVICE [ID...], unshare DEVICE, owner ID: root's sharing changes on this machine.
private func sharingRequest(_ words: [String], sessions: SessionService) -> String {
    let request: SharingRequest
    switch words[0] {
    case "share":
        var ids: [EndpointId] = []
        for word in words.dropFirst(2) {
            guard let id = try? EndpointId(parsing: word) else { return "error '\(word)' is not an EndpointId" }
            ids.append(id)
        }
        request = .share(device: words[1], with: ids.isEmpty ? nil : ids)
    case "unshare": request = .unshare(device: words[1])
    default:
        guard let id = try? EndpointId(parsing: words[1]) else { return "error '\(words[1])' is not an EndpointId" }
        request = .setOwner(id)
    }
    do {
        return "ok " + (try sessions.applySharing(request, requester: nil))
    } catch {
        return "error \(error)"
    }
}

private func startMetrics(config: ConfigFile, health: ServiceHealth, log: Logger) -> MetricsServer? {
    let listen = config.string("metrics.listen")
    guard !listen.isEmpty, let endpoint = Endpoint(parsing: listen, defaultPort: 9575) else { return nil }
    do {
        let server = try MetricsServer(endpoint: endpoint, logger: log) { health.metrics() }
        server.start()
        return server
    } catch {
        // Metrics are not worth refusing to serve devices for.
        log.warning("metrics: cannot listen on \(endpoint): \(error); no metrics")
        return nil
    }
}
