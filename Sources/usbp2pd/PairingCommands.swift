import ArgumentParser
import CLISupport
import Config
import FileSystem
import Identity
import Log
import QRCode
import Sockets

/// `usbp2pd pairing-code`: the code a laptop pairs with, for the label on the box.
struct PairingCodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pairing-code",
        abstract: "Print this server's pairing code, as text and as a QR code (and write it as an SVG label).",
        discussion: """
            The code carries this server's EndpointId and its pairing secret \
            (state_directory/pairing.secret, made on first use). A laptop pairs with \
            'usbp2p-client pair CODE' while the pairing window is open (a short press of \
            the button, or 'usbp2pd pair --open'). Anyone who has the code can pair during \
            an open window: keep it like a key.

            With relay.address set, the URI (and so the QR code) also carries the relay's \
            address and relay.id, so a laptop paired from the label reaches this server \
            through the relay with no settings of its own. The text form never carries them.
            """)

    @OptionGroup var options: CommonOptions

    @Option(help: ArgumentHelp("Also write the QR code and the code as an SVG label to this file.", valueName: "file"))
    var svg: String?

    @Flag(help: "Print only the text form (no QR code in the terminal).") var textOnly = false

    @Flag(help: "Leave the relay out of the URI and the QR code.") var withoutHints = false

    func run() throws {
        let config = try options.loadServerConfig()
        let log = options.logger(for: Server.self, config: config)
        let code = try labelCode(config: config, withHints: !withoutHints, log: log)
        let qr = code.qrCode
        if !textOnly, let qr {
            print(qr.terminalText)
            print()
        }
        print("pairing code: \(code)")
        print("as a URI:     \(code.uri)")
        if let svg {
            guard let qr else { throw CLIError("could not make a QR code of \(code.uri)") }
            let name = config.string("name").isEmpty ? hostName() : config.string("name")
            let label = qr.svg(caption: ["usbp2p \(name)", code.description])
            do throws(SystemError) { try AtomicFile.write(Array(label.utf8), to: svg, mode: 0o600) } catch {
                throw CLIError("\(error)")
            }
            print("label:        \(svg)")
        }
    }
}

/// The code on this server's label: its EndpointId, its pairing secret, and (`withHints`)
/// the relay's address and id when relay.address is set.
func labelCode(config: ConfigFile, withHints: Bool, log: Logger) throws -> PairingCode {
    let identity = try loadIdentity(config: config, log: log)
    let secret = try loadPairingSecret(config: config, log: log)
    let relayText = config.string("relay.address")
    let relay = Endpoint(parsing: relayText, defaultPort: 443).map { "\($0)" } ?? relayText
    let relayId = config.string("relay.id").isEmpty ? nil : try? EndpointId(parsing: config.string("relay.id"))
    let hints = !withHints || relayText.isEmpty ? nil : PairingHints(relay: relay, relayId: relayId)
    if withHints, !relayText.isEmpty, hints == nil {
        log.warning("relay.address '\(relay)' cannot go into the pairing code (a numeric address and port can)")
    }
    return PairingCode(server: identity.endpointId, secret: secret, hints: hints)
}

extension PairingCode {
    /// Its QR code: the URI in upper case, for the QR code's denser alphanumeric mode
    /// (the code reads either way).
    var qrCode: QRCode? { QRCode(encoding: uri.uppercased()) }
}

/// `usbp2pd pair --open`: the pairing window without a button (headless set-ups).
struct PairCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pair",
        abstract: "Open or close the running service's pairing window (as the button does), or show it.",
        discussion: """
            Talks to the running 'usbp2pd serve' through its control socket (control.socket; \
            root or the service's user). While the window is open, a laptop with this \
            server's pairing code ('usbp2pd pairing-code') can pair; it closes after one \
            pairing, after three wrong secrets, or when its time is up.
            """)

    @OptionGroup var options: CommonOptions

    @Flag(help: "Open the pairing window.") var open = false
    @Flag(help: "Close it.") var close = false
    @Option(help: ArgumentHelp("How long to open it (default: pairing.window_seconds).", valueName: "seconds"))
    var seconds: Int?

    func validate() throws {
        if open && close { throw ValidationError("give --open or --close, not both") }
        if let seconds {
            guard open else { throw ValidationError("--seconds goes with --open") }
            guard (1...3600).contains(seconds) else { throw ValidationError("--seconds: expected 1 to 3600") }
        }
    }

    func run() throws {
        let config = try options.loadServerConfig()
        let path = config.string("control.socket")
        guard !path.isEmpty else {
            throw CLIError("control.socket is \"\" in \(config.path): no way to reach the service")
        }
        let request =
            open ? "pair-open \(seconds ?? config.integer("pairing.window_seconds"))" : close ? "pair-close" : "status"
        let reply: String
        do { reply = try ControlSocket.request(request, at: path) } catch {
            throw CLIError(
                "cannot reach the running usbp2pd at \(path): \(error) (is 'usbp2pd serve' running, and are you root?)")
        }
        if reply.hasPrefix("ok ") {
            print(String(reply.dropFirst(3)))
        } else {
            throw CLIError(reply.hasPrefix("error ") ? String(reply.dropFirst(6)) : "unexpected answer: \(reply)")
        }
    }
}
