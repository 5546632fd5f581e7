import Dispatch
import Exporter
import GPIO
import Log
import Metrics
import Pairing
import Sockets
import Systemd
import USBHost

/// The service's main-loop tick (on the main queue): reassures systemd's watchdog while
/// the USB thread goes round and the listeners can be kept, keeps the LED and systemd's
/// STATUS line up to date.
final class ServiceHealth: @unchecked Sendable {
    let usb: USBContext
    let exporter: USBIPExporter
    let sessions: SessionService
    let appliance: Appliance
    let notifier: SystemdNotifier
    let logger: Logger
    private var timer: (any DispatchSourceTimer)?
    private var lastStatus = ""
    private var stalled = false
    /// The session, USB/IP and control listeners (not the metrics one: a restart for it
    /// would cost users their devices).
    let listeners = ListenerWatch()
    private var listenersLost = false

    /// The USB thread goes round at least once a second; this long without is a hang.
    static let stallSeconds = 3.0

    init(
        usb: USBContext, exporter: USBIPExporter, sessions: SessionService, appliance: Appliance,
        notifier: SystemdNotifier, logger: Logger
    ) {
        self.usb = usb
        self.exporter = exporter
        self.sessions = sessions
        self.appliance = appliance
        self.notifier = notifier
        self.logger = logger
    }

    /// Ticks every half watchdog interval (systemd's advice), at most once a second: a
    /// tick reads the network interfaces and the access files, which an idle appliance
    /// should not do more often.
    func start() {
        let interval = min(1, (notifier.watchdogSeconds ?? 2) / 2)
        if let watchdog = notifier.watchdogSeconds {
            logger.info("systemd watchdog: \(watchdog) s; pinging every \(interval) s while the USB thread runs")
        }
        let timer = DispatchSource.makeTimerSource(queue: .main)
        timer.schedule(deadline: .now(), repeating: interval)
        timer.setEventHandler { [self] in tick() }
        timer.resume()
        self.timer = timer
    }

    func stop() { timer?.cancel() }

    /// True while the USB thread is healthy.
    var usbThreadHealthy: Bool { !stalled }

    private func tick() {
        let quiet = usb.secondsSinceEventLoopRan
        if quiet > Self.stallSeconds {
            if !stalled {
                stalled = true
                logger.error(
                    "the USB thread has not run for \(Int(quiet)) s: no more watchdog pings (systemd restarts the service)"
                )
                appliance.update { $0.failure = "USB thread stalled" }
            }
        } else {
            if stalled {
                stalled = false
                logger.notice("the USB thread runs again")
                if !listenersLost { appliance.update { $0.failure = nil } }
            }
        }
        let lost = listeners.lost()
        if !lost.isEmpty, !listenersLost {
            logger.error(
                "\(lost.joined(separator: "; ")): no more watchdog pings (systemd restarts the service)")
            appliance.update { $0.failure = "listener lost" }
        } else if lost.isEmpty, listenersLost {
            logger.notice("the listeners accept again")
            if !stalled { appliance.update { $0.failure = nil } }
        }
        listenersLost = !lost.isEmpty
        if !stalled, !listenersLost, notifier.watchdogSeconds != nil { notifier.watchdogPing() }
        sessions.enforceAccess()
        let lan = sessions.hasListener && !NetworkInterfaces.ipv4Addresses().isEmpty
        let relay = sessions.isRegisteredAtRelay
        let attached = exporter.importedCount
        let pairing = appliance.window.remainingSeconds
        appliance.update {
            $0.online = lan || relay
            $0.attachedDevices = attached
        }
        var parts = ["\(sessions.registry.count) session(s)", "\(attached) device(s) attached"]
        parts.append(sessions.hasRelay ? (relay ? "relay registered" : "relay unreachable") : "no relay")
        if !lan && !relay { parts.append("no network") }
        if pairing != nil { parts.append("pairing open") }
        if stalled { parts.append("USB thread stalled") }
        if listenersLost { parts.append("listener lost") }
        let status = parts.joined(separator: ", ")
        if status != lastStatus {
            lastStatus = status
            notifier.status(status)
        }
    }

    /// What the metrics endpoint serves.
    func metrics() -> [Metric] {
        let statuses = sessions.registry.statuses
        let counters = exporter.counters
        var byPath: [String: Int] = ["direct": 0, "relay": 0]
        for status in statuses where status.connected {
            byPath[status.path.hasPrefix("relay") ? "relay" : "direct", default: 0] += 1
        }
        let pairing = appliance.pairingResults.all
        let results: [(PairingReply.Status, String)] = [
            (.paired, "paired"), (.notOpen, "not_open"), (.wrongProof, "wrong_secret"),
            (.tooManyWrongProofs, "too_many_wrong"), (.malformed, "malformed"), (.failed, "failed"),
        ]
        return [
            Metric(
                "usbp2p_sessions", .gauge, "Sessions with clients (connected or resuming).",
                value: Double(statuses.count)),
            Metric(
                "usbp2p_session_paths", .gauge, "Connected sessions by path.",
                samples: byPath.sorted { $0.key < $1.key }.map { ([("path", $0.key)], Double($0.value)) }),
            Metric(
                "usbp2p_session_bytes", .gauge, "Bytes the current sessions have moved.",
                samples: [
                    ([("direction", "sent")], Double(statuses.reduce(0) { $0 + $1.bytesSent })),
                    ([("direction", "received")], Double(statuses.reduce(0) { $0 + $1.bytesReceived })),
                ]),
            Metric(
                "usbp2p_devices_attached", .gauge, "Devices imported by clients now.",
                value: Double(exporter.importedCount)),
            Metric(
                "usbp2p_imports_total", .counter, "Device imports since start.",
                value: Double(counters.imports.load(ordering: .relaxed))),
            Metric(
                "usbp2p_urbs_total", .counter, "URBs completed.", value: Double(counters.urbs.load(ordering: .relaxed))),
            Metric(
                "usbp2p_urb_errors_total", .counter, "URBs completed with an error status.",
                value: Double(counters.failedURBs.load(ordering: .relaxed))),
            Metric(
                "usbp2p_usb_bytes_total", .counter, "Transfer bytes, IN from the devices, OUT to them.",
                samples: [
                    ([("direction", "in")], Double(counters.bytesIn.load(ordering: .relaxed))),
                    ([("direction", "out")], Double(counters.bytesOut.load(ordering: .relaxed))),
                ]),
            Metric(
                "usbp2p_handshake_refusals_total", .counter, "Connections refused in their handshake.",
                value: Double(sessions.refusedHandshakes.load(ordering: .relaxed))),
            Metric(
                "usbp2p_pairing_attempts_total", .counter, "Pairing attempts by result.",
                samples: results.map { ([("result", $0.1)], Double(pairing[$0.0] ?? 0)) }),
            Metric(
                "usbp2p_pairing_open", .gauge, "1 while the pairing window is open.",
                value: appliance.window.isOpen ? 1 : 0),
            Metric(
                "usbp2p_relay_registered", .gauge, "1 while registered at the relay.",
                value: sessions.isRegisteredAtRelay ? 1 : 0),
            Metric(
                "usbp2p_usb_thread_stalled", .gauge, "1 while the USB thread has stopped going round.",
                value: usb.secondsSinceEventLoopRan > Self.stallSeconds ? 1 : 0),
        ]
    }
}
