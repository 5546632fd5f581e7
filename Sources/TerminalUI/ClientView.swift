import ClientControl

/// What `usbp2p-client ui` draws, from the service's `ViewState`: each paired server with
/// its session's path, round trip and throughput, and the devices it offers with what
/// became of each here; one device selected. Pure: the command feeds it the state and
/// the time, and draws its lines.
public struct ClientView {
    public private(set) var state: ViewState?
    /// Why there is no state (the service did not answer), shown instead.
    public var problem: String?
    /// The last action's outcome, on the bottom line.
    public var message = ""
    /// The selected device, by server and bus id (kept across refreshes).
    public private(set) var selected: (server: String, busid: String)?
    /// Bytes per second out and in, per server (by id) and per attached device (by
    /// "server busid"), from the last two states.
    private var rates: [String: (sent: Double, received: Double)] = [:]
    private var previous: (at: Double, bytes: [String: (sent: UInt64, received: UInt64)])?

    /// What each server's session and each attached device's channel has carried.
    static func counts(_ state: ViewState) -> [String: (sent: UInt64, received: UInt64)] {
        var bytes: [String: (sent: UInt64, received: UInt64)] = [:]
        for server in state.servers {
            bytes[server.id] = (server.bytesSent, server.bytesReceived)
            for device in server.devices {
                guard let sent = device.bytesSent, let received = device.bytesReceived else { continue }
                bytes[server.id + " " + device.busid] = (sent, received)
            }
        }
        return bytes
    }

    public init() {}

    /// Every device in the order drawn.
    var rows: [(server: String, busid: String)] {
        (state?.servers ?? []).flatMap { server in server.devices.map { (server.id, $0.busid) } }
    }

    /// A new state, read at `now` (monotonic seconds).
    public mutating func update(_ new: ViewState, at now: Double) {
        let bytes = Self.counts(new)
        if let previous, now > previous.at {
            let seconds = now - previous.at
            rates = [:]
            for (key, count) in bytes {
                // A new session or channel counts from zero: no rate until the next state.
                guard let before = previous.bytes[key], count.sent >= before.sent, count.received >= before.received
                else { continue }
                rates[key] = (
                    Double(count.sent - before.sent) / seconds, Double(count.received - before.received) / seconds
                )
            }
        }
        previous = (now, bytes)
        state = new
        problem = nil
        let all = rows
        if let selected, all.contains(where: { $0 == selected }) { return }
        self.selected = all.first
    }

    /// Moves the selection `step` rows down (up when negative), staying on the list.
    public mutating func move(_ step: Int) {
        let all = rows
        guard !all.isEmpty else {
            selected = nil
            return
        }
        let index = selected.flatMap { s in all.firstIndex { $0 == s } } ?? 0
        selected = all[min(max(index + step, 0), all.count - 1)]
    }

    /// The selected device as the state has it.
    public var selectedDevice: ViewState.Device? {
        guard let selected else { return nil }
        return state?.servers.first { $0.id == selected.server }?.devices.first { $0.busid == selected.busid }
    }

    public static let keysLine = "↑↓ select   a attach   d detach   q quit"

    /// The screen's lines for `columns` columns.
    public func lines(columns: Int) -> [String] {
        var out: [String] = []
        let count = state?.servers.count ?? 0
        let title = "usbp2p-client: \(count) paired server\(count == 1 ? "" : "s")"
        let gap = max(2, columns - title.count - Self.keysLine.count)
        out.append(Screen.bold(title) + String(repeating: " ", count: gap) + Self.keysLine)
        out.append("")
        if let problem { out.append(problem) }
        for server in state?.servers ?? [] {
            var head = "\(server.name) (\(server.id.prefix(8))…): \(server.state)"
            if let rtt = server.roundTripMilliseconds { head += "   RTT \(Self.milliseconds(rtt))" }
            if let rate = rates[server.id], server.state.hasPrefix("connected") { head += Self.rate(rate) }
            out.append(Screen.bold(head))
            if server.devices.isEmpty {
                out.append("    (no device offered to this laptop now)")
            }
            for device in server.devices {
                let chosen = selected.map { $0 == (server.id, device.busid) } ?? false
                let line =
                    "\(chosen ? ">" : " ") \(Self.padded(device.busid, 9)) \(hex4(device.vendor)):\(hex4(device.product))  "
                    + "\(Self.padded(device.name ?? "", 32)) \(Self.describe(device))"
                    + (device.port == nil ? "" : rates[server.id + " " + device.busid].map { Self.rate($0) } ?? "")
                out.append("  " + (chosen ? Screen.inverse(line) : line))
            }
            out.append("")
        }
        for bridge in state?.bridges ?? [] { out.append(bridge) }
        if !(state?.bridges.isEmpty ?? true) { out.append("") }
        out.append(message)
        return out
    }

    static func rate(_ rate: (sent: Double, received: Double)) -> String {
        "   out \(perSecond(rate.sent))  in \(perSecond(rate.received))"
    }

    static func describe(_ device: ViewState.Device) -> String {
        if let port = device.port { return "attached on port \(port)" }
        if device.wished { return "attaching" }
        return "offered"
    }

    static func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? String(text.prefix(width)) : text + String(repeating: " ", count: width - text.count)
    }

    static func milliseconds(_ value: Double) -> String {
        value < 10 ? "\((value * 10).rounded() / 10) ms" : "\(Int(value.rounded())) ms"
    }

    /// 1.2 MB/s, 340 kB/s, 12 B/s (decimal units, as dd and testusb print them).
    static func perSecond(_ bytes: Double) -> String {
        if bytes >= 1_000_000 { return "\((bytes / 100_000).rounded() / 10) MB/s" }
        if bytes >= 1000 { return "\(Int((bytes / 1000).rounded())) kB/s" }
        return "\(Int(bytes.rounded())) B/s"
    }
}

/// Four lowercase hex digits, as lsusb prints an id.
func hex4(_ value: UInt16) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
