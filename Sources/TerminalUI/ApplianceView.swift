import StatusPage

/// What `usbp2pd ui` draws on the Pi's console, from the service's `StatusReport` (the
/// status page's own report): the LED, the devices with whom they are shared and who has
/// them, the paired laptops and their sessions, and while the pairing window is open, the
/// pairing code and its QR code, so a laptop can pair from the screen. Pure.
public struct ApplianceView {
    public var report: StatusReport?
    /// Why there is no report (the service does not answer), shown instead.
    public var problem: String?
    /// The last action's outcome, on the bottom line.
    public var message = ""
    /// The pairing code as text and its QR code's lines (`QRCode.terminalText`).
    public let code: String
    public let qrLines: [String]

    public init(code: String, qrLines: [String]) {
        self.code = code
        self.qrLines = qrLines
    }

    public static let keysLine = "p open pairing   c close it   q quit"

    /// The screen's lines for `columns` columns.
    public func lines(columns: Int) -> [String] {
        var out: [String] = []
        let title = report.map { "usbp2pd: \($0.name) (\($0.endpointId.prefix(8))…)  \($0.version)" } ?? "usbp2pd"
        let gap = max(2, columns - title.count - Self.keysLine.count)
        out.append(Screen.bold(title) + String(repeating: " ", count: gap) + Self.keysLine)
        out.append("")
        if let problem {
            out.append(problem)
            out.append("")
        }
        guard let report else {
            out.append(message)
            return out
        }
        out.append("LED: \(report.led)   network: \(report.online ? "online" : "no address")")
        if let error = report.settingsError { out.append("settings: \(error)") }
        out.append("")
        out.append(Screen.bold("Devices"))
        if report.devices.isEmpty { out.append("  (none plugged in)") }
        for device in report.devices {
            let who = device.attachedBy.map { " · attached by \($0)" } ?? ""
            out.append(
                "  \(ClientView.padded(device.busid, 9)) \(device.ids)  \(ClientView.padded(device.name, 32)) "
                    + "\(device.sharing)\(who)")
        }
        out.append("")
        out.append(Screen.bold("Laptops"))
        if report.laptops.isEmpty { out.append("  (none paired: open the pairing window)") }
        for laptop in report.laptops {
            var line =
                "  \(laptop.name.isEmpty ? laptop.id : laptop.name) (\(laptop.id)…)\(laptop.owner ? " owner" : "")"
            if laptop.connected {
                line += "   connected, \(laptop.path ?? "")"
                if let rtt = laptop.roundTripMilliseconds { line += "   RTT \(rtt) ms" }
            } else {
                line += "   not connected"
            }
            out.append(line)
        }
        out.append("")
        if let seconds = report.pairingOpenSeconds {
            out.append(Screen.bold("Pairing: open for \(seconds) s more") + ": usbp2p-client pair \(code)")
            out += qrLines
        } else {
            out.append("Pairing: closed (a short press of the button, or 'p', opens it)")
        }
        out.append("")
        out.append(message)
        return out
    }
}
