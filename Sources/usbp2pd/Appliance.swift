import Audit
import CLISupport
import Config
import GPIO
import Identity
import Log
import OSThreads
import Pairing
import Secure
import Sockets

/// The appliance around the service: the status LED and the pairing button (GPIO), the
/// pairing window and what pairing stores, and what the LED says.
final class Appliance: @unchecked Sendable {
    let logger: Logger
    let allowlistPath: String
    let serverName: String
    let windowSeconds: Double
    let secret: PairingSecret
    let window: PairingWindow
    private let monitor = Monitor()
    private var state = ApplianceState()
    private var led: StatusLED?
    private var button: ButtonWatcher?
    /// Told when a long press has cleared the allowlist (sessions of the cleared end).
    var cleared: @Sendable () -> Void = {}
    /// Counts for the metrics: pairing attempts by result.
    let pairingResults = PairingCounters()
    let audit: AuditLog

    init(config: ConfigFile, secret: PairingSecret, audit: AuditLog, logger: Logger) {
        self.logger = logger
        self.audit = audit
        self.secret = secret
        allowlistPath = "\(config.string("state_directory"))/allowlist"
        let name = config.string("name")
        serverName = name.isEmpty ? hostName() : name
        windowSeconds = Double(config.integer("pairing.window_seconds"))
        // The window tells the LED when it opens and closes; it exists before self does.
        let late = LateAppliance()
        window = PairingWindow(changed: { open in late.appliance?.update { $0.pairingOpen = open } })
        late.appliance = self
        setUpGPIO(config)
    }

    /// The LED and the button; without GPIO the service runs on and says so once.
    private func setUpGPIO(_ config: ConfigFile) {
        let chip = config.string("gpio.chip")
        guard !chip.isEmpty else {
            logger.notice("GPIO is off (gpio.chip is \"\"): no status LED, no pairing button")
            return
        }
        let ledLine = config.integer("gpio.led_line")
        let buttonLine = config.integer("gpio.button_line")
        do throws(GPIOError) {
            if ledLine >= 0 {
                let line = try GPIOLine(
                    chip: chip, offset: UInt32(ledLine),
                    mode: .output(activeLow: config.boolean("gpio.led_active_low")), consumer: "usbp2pd status LED")
                led = StatusLED(line: line, initial: .starting, logger: logger)
            }
            if buttonLine >= 0 {
                let debounce = Double(config.integer("gpio.debounce_ms")) / 1000
                let line = try GPIOLine(
                    chip: chip, offset: UInt32(buttonLine),
                    mode: .buttonToGround(debounceMicroseconds: UInt(debounce * 1_000_000)),
                    consumer: "usbp2pd pairing button")
                button = ButtonWatcher(line: line, gestures: ButtonGestures(debounce: debounce), logger: logger) {
                    [weak self] gesture in self?.pressed(gesture)
                }
            }
            logger.info(
                "GPIO on \(chip) (libgpiod \(LibGPIOD.version)): LED line \(ledLine), button line \(buttonLine)")
        } catch {
            led = nil
            button = nil
            if error.isMissingChip {
                logger.notice("GPIO is off: \(error) (no status LED, no pairing button; 'usbp2pd pair --open' pairs)")
            } else {
                logger.warning("GPIO is off: \(error); check gpio.chip and the line numbers in the configuration")
            }
        }
    }

    func start() {
        led?.start()
        button?.start()
    }

    func stop() {
        button?.stop()
        led?.stop()
    }

    /// Changes what the appliance is doing; the LED follows.
    func update(_ change: (inout ApplianceState) -> Void) {
        let pattern = monitor.withLock {
            change(&state)
            return state.pattern
        }
        led?.show(pattern)
    }

    var current: ApplianceState { monitor.withLock { state } }

    // MARK: The button

    private func pressed(_ gesture: ButtonGestures.Gesture) {
        switch gesture {
        case .shortPress:
            audit.record(AuditEvent(.button, result: "short press: pairing opened"))
            openPairing(seconds: windowSeconds, by: "the button")
        case .holding:
            logger.notice("button held: keep holding for 10 s to clear the allowlist")
            update { $0.holdingToClear = true }
        case .cancelled:
            logger.notice("button released before 10 s: the allowlist stays")
            update { $0.holdingToClear = false }
        case .longPress:
            audit.record(AuditEvent(.button, result: "long press: clearing the allowlist"))
            clearAllowlist()
            update { $0.holdingToClear = false }
        }
    }

    func openPairing(seconds: Double, by whom: String) {
        window.open(seconds: seconds)
        logger.notice("pairing is open for \(Int(seconds)) s (opened by \(whom))")
    }

    func closePairing(by whom: String) {
        window.close()
        logger.notice("pairing is closed (by \(whom))")
    }

    private func clearAllowlist() {
        do {
            var list = try Allowlist.load(from: allowlistPath)
            let count = list.entries.count
            list.removeAll()
            try list.save(to: allowlistPath)
            logger.notice(
                "long press: cleared the allowlist (\(count) client(s) removed); pair again to use the devices")
            audit.record(AuditEvent(.allowlistCleared, result: "\(count) laptop(s) removed by the button"))
        } catch {
            logger.error("long press: could not clear the allowlist: \(error)")
            update { $0.failure = "could not clear the allowlist" }
            return
        }
        cleared()
    }

    // MARK: Pairing

    /// One pairing connection: the proof, the window's verdict, the allowlist.
    func pair(over stream: TLSStream) {
        defer { stream.close() }
        stream.setReceiveTimeout(seconds: 10)
        do {
            let outcome = try PairingExchange.respond(over: stream, secret: secret, window: window) {
                peer, name throws in
                var list = try Allowlist.load(from: allowlistPath)
                list.add(peer, name: name.isEmpty ? "paired laptop" : name, added: todayUTC())
                try list.save(to: allowlistPath)
                return serverName
            }
            pairingResults.count(outcome.reply.status)
            switch outcome.reply.status {
            case .paired:
                logger.notice("paired with \(outcome.peer) (\"\(outcome.name)\"); it is on the allowlist now")
                audit.record(AuditEvent(.pairingMade, peer: "\(outcome.peer)", name: outcome.name, result: "ok"))
            default:
                logger.notice("pairing refused for \(outcome.peer) (\"\(outcome.name)\"): \(outcome.reply.text)")
                audit.record(
                    AuditEvent(.pairingRefused, peer: "\(outcome.peer)", name: outcome.name, result: outcome.reply.text)
                )
            }
        } catch {
            pairingResults.count(.malformed)
            logger.notice("\(stream.peer): pairing failed: \(error)")
            audit.record(AuditEvent(.pairingRefused, result: "\(stream.peer): \(error)"))
        }
    }
}

/// The appliance, for the pairing window made before it.
private final class LateAppliance: @unchecked Sendable {
    weak var appliance: Appliance?
}

/// Pairing attempts by what became of them.
final class PairingCounters: @unchecked Sendable {
    private let monitor = Monitor()
    private var counts: [PairingReply.Status: Int] = [:]

    func count(_ status: PairingReply.Status) { monitor.withLock { counts[status, default: 0] += 1 } }
    var all: [PairingReply.Status: Int] { monitor.withLock { counts } }
}
