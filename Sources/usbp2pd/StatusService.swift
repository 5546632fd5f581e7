import AccessPolicy
import Audit
import CLISupport
import Config
import Identity
import Log
import Metrics
import Sockets
import StatusPage
import USBHost

/// The appliance's status page on the LAN (`status.listen`): what `StatusReport` shows,
/// gathered at each request. Answers loopback, private and link-local addresses and this
/// machine's own networks, unless `status.anyone` is set.
enum StatusService {
    static func start(
        config: ConfigFile, identity: EndpointIdentity, appliance: Appliance, sessions: SessionService,
        log: Logger
    ) -> HTTPServer? {
        let listen = config.string("status.listen")
        guard !listen.isEmpty, let endpoint = Endpoint(parsing: listen, defaultPort: 80) else { return nil }
        let anyone = config.boolean("status.anyone")
        do {
            let server = try HTTPServer(
                endpoint: endpoint, name: "status-page", logger: log,
                admits: { source in
                    anyone || NetworkInterfaces.isPrivateOrLinkLocal(source)
                        || NetworkInterfaces.isOnLink(source, subnets: NetworkInterfaces.ipv4Subnets())
                },
                handle: { request in
                    let report = Self.report(identity: identity, appliance: appliance, sessions: sessions)
                    switch request.path {
                    case "/": return HTTPResponse(contentType: "text/html; charset=utf-8", body: report.html)
                    case "/status.json": return HTTPResponse(contentType: "application/json", body: report.json)
                    default: return .notFound("see / or /status.json\n")
                    }
                })
            server.start()
            log.notice("status page on http://\(server.endpoint)/")
            return server
        } catch {
            // The devices matter more than the page.
            log.warning("status page: cannot listen on \(endpoint): \(error); no status page")
            return nil
        }
    }

    static func report(identity: EndpointIdentity, appliance: Appliance, sessions: SessionService) -> StatusReport {
        let state = appliance.current
        let access = sessions.access.now
        let allowlist = (try? Allowlist.load(from: sessions.allowlistPath))?.entries ?? []
        let name = { (peer: String) in allowlist.first { "\($0.id)" == peer }?.name ?? String(peer.prefix(8)) }
        let imports = sessions.usbip.imports
        let devices = sessions.namedDevices().map { info in
            let share = access.share(of: info.facts)
            let sharing =
                switch share {
                case .unshared: "unshared"
                case .everyone: "shared"
                case .only(let ids): "shared with \(ids.count) laptop\(ids.count == 1 ? "" : "s")"
                }
            return StatusReport.Device(
                busid: info.busid, ids: hex4(info.idVendor) + ":" + hex4(info.idProduct),
                name: [info.manufacturer, info.product].compactMap { $0 }.joined(separator: " "), sharing: sharing,
                attachedBy: imports.first { $0.busid == info.busid }.map { name($0.peer) })
        }
        let byPeer = sessions.registry.sessionsByPeer
        let laptops = allowlist.map { entry in
            let status = byPeer.first { $0.peer == "\(entry.id)" }?.session.status
            return StatusReport.Laptop(
                name: entry.name, id: String("\(entry.id)".prefix(8)), owner: entry.id == access.owner,
                path: status?.path, connected: status?.connected ?? false,
                roundTripMilliseconds: status?.roundTripTime.map { Int(($0 * 1000).rounded()) })
        }
        let events = sessions.audit.recentEvents.suffix(10).map { event in
            StatusReport.Event(
                time: event.time, event: event.event.rawValue,
                text: [event.device, event.peer.map(name), event.result].compactMap { $0 }.joined(separator: " · "))
        }
        return StatusReport(
            name: appliance.serverName, version: usbp2pVersion, endpointId: "\(identity.endpointId)",
            led: state.pattern.rawValue, online: state.online,
            pairingOpenSeconds: appliance.window.remainingSeconds.map { Int($0.rounded(.up)) },
            settingsError: state.settingsError, devices: devices, laptops: laptops, events: Array(events),
            time: Logger.timestamp())
    }
}
