import ArgumentParser
import CLISupport
import Config
import FileSystem
import Log
import OSThreads
import StatusPage
import TerminalUI

/// `usbp2pd ui`: a live view of this appliance on its console (a screen, or a serial
/// line): the LED, the devices, the laptops and their sessions, and the pairing window
/// with the pairing QR code while it is open.
struct ApplianceUICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ui",
        abstract: "A live view of this appliance: devices, laptops, the pairing window and its QR code, the LED.",
        discussion: """
            Asks the running service (control.socket) once a second. 'p' opens the pairing \
            window for pairing.window_seconds, as the button does, and the view then shows \
            the pairing code and its QR code, which a laptop pairs with ('usbp2p-client pair \
            CODE', or a phone's camera on the QR code); 'c' closes it; 'q' or Ctrl-C leaves \
            with the terminal as it was. As root, like the other commands that reach the service.
            """)

    @OptionGroup var options: CommonOptions

    func run() throws {
        let config = try options.loadServerConfig()
        let log = options.logger(for: Server.self, config: config)
        let path = config.string("control.socket")
        guard !path.isEmpty else {
            throw CLIError("control.socket is empty in \(config.path): the view asks the service there")
        }
        let code = try labelCode(config: config, withHints: true, log: log)
        var view = ApplianceView(
            code: code.description,
            qrLines: code.qrCode.map { $0.terminalText.split(separator: "\n").map(String.init) } ?? [])
        // The service must answer before the terminal is taken over.
        guard apply(request("report", at: path), to: &view) else {
            throw CLIError("usbp2pd does not answer on \(path): \(view.problem ?? "")")
        }
        let terminal: Terminal
        do { terminal = try Terminal() } catch {
            throw CLIError("usbp2pd ui needs a terminal on its standard input and output (\(error))")
        }
        defer { terminal.restore() }
        let windowSeconds = config.integer("pairing.window_seconds")
        while true {
            let (rows, columns) = terminal.size
            terminal.show(Screen.frame(view.lines(columns: columns), rows: rows, columns: columns))
            switch terminal.next(within: 1) {
            case .interrupted, .key(.character("q")), .key(.character("\u{3}")):
                return
            case .key(.character("p")):
                view.message = answer(request("pair-open \(windowSeconds)", at: path))
                _ = apply(request("report", at: path), to: &view)
            case .key(.character("c")):
                view.message = answer(request("pair-close", at: path))
                _ = apply(request("report", at: path), to: &view)
            case .key, .resized:
                continue
            case .tick:
                _ = apply(request("report", at: path), to: &view)
            }
        }
    }

    private func request(_ line: String, at path: String) -> Result<String, SystemError> {
        do throws(SystemError) { return .success(try ControlSocket.request(line, at: path)) } catch {
            return .failure(error)
        }
    }

    /// The report in `reply` goes to the view; false (and the view says why) if there is none.
    private func apply(_ reply: Result<String, SystemError>, to view: inout ApplianceView) -> Bool {
        switch reply {
        case .success(let line) where line.hasPrefix("ok "):
            guard let report = StatusReport(json: String(line.dropFirst(3))) else {
                view.problem = "the service's report is not one this view reads"
                return false
            }
            view.report = report
            view.problem = nil
            return true
        case .success(let line):
            view.problem = "the service answered: \(displaySafe(line, maxLength: 200))"
        case .failure(let error):
            view.problem = "the service does not answer: \(error)"
        }
        return false
    }

    private func answer(_ reply: Result<String, SystemError>) -> String {
        switch reply {
        case .success(let line):
            displaySafe(line.hasPrefix("ok ") ? String(line.dropFirst(3)) : line, maxLength: 200)
        case .failure(let error): "the service does not answer: \(error)"
        }
    }
}
