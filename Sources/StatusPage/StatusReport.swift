import FoundationEssentials

/// What the appliance's status page shows, and its JSON (/status.json): nothing secret
/// (no pairing secret, no keys; laptops by name and the start of their EndpointId).
public struct StatusReport: Codable, Equatable, Sendable {
    public struct Device: Codable, Equatable, Sendable {
        public var busid: String
        /// "VVVV:PPPP".
        public var ids: String
        public var name: String
        /// "shared", "unshared", "shared with 2 laptops".
        public var sharing: String
        /// The laptop that has it attached now, by name.
        public var attachedBy: String?

        public init(busid: String, ids: String, name: String, sharing: String, attachedBy: String?) {
            self.busid = busid
            self.ids = ids
            self.name = name
            self.sharing = sharing
            self.attachedBy = attachedBy
        }
    }

    public struct Laptop: Codable, Equatable, Sendable {
        public var name: String
        /// The first 8 characters of its EndpointId.
        public var id: String
        public var owner: Bool
        /// Its session now: "direct 192.168.1.20:51234", "relay …"; nil without one.
        public var path: String?
        public var connected: Bool
        public var roundTripMilliseconds: Int?

        public init(
            name: String, id: String, owner: Bool, path: String?, connected: Bool, roundTripMilliseconds: Int?
        ) {
            self.name = name
            self.id = id
            self.owner = owner
            self.path = path
            self.connected = connected
            self.roundTripMilliseconds = roundTripMilliseconds
        }
    }

    public struct Event: Codable, Equatable, Sendable {
        public var time: String
        public var event: String
        public var text: String

        public init(time: String, event: String, text: String) {
            self.time = time
            self.event = event
            self.text = text
        }
    }

    public var name: String
    public var version: String
    public var endpointId: String
    /// The LED's pattern ("online", "attached", "pairing", "error", ...).
    public var led: String
    public var online: Bool
    /// Seconds the pairing window stays open; nil when closed.
    public var pairingOpenSeconds: Int?
    /// Why the card's settings were refused (the last good ones are in effect).
    public var settingsError: String?
    public var devices: [Device]
    public var laptops: [Laptop]
    /// The last audit events, newest last.
    public var events: [Event]
    public var time: String

    public init(
        name: String, version: String, endpointId: String, led: String, online: Bool, pairingOpenSeconds: Int?,
        settingsError: String?, devices: [Device], laptops: [Laptop], events: [Event], time: String
    ) {
        self.name = name
        self.version = version
        self.endpointId = endpointId
        self.led = led
        self.online = online
        self.pairingOpenSeconds = pairingOpenSeconds
        self.settingsError = settingsError
        self.devices = devices
        self.laptops = laptops
        self.events = events
        self.time = time
    }

    /// The report in `text` (its `json`); nil if it is not one.
    public init?(json text: String) {
        guard let report = try? JSONDecoder().decode(StatusReport.self, from: Data(text.utf8)) else { return nil }
        self = report
    }

    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) + "\n" } ?? "{}\n"
    }

    /// The page: plain HTML and CSS, no script; it reloads itself every 5 s.
    public var html: String {
        func rows(_ cells: [[String]]) -> String {
            cells.map { "<tr>" + $0.map { "<td>\($0)</td>" }.joined() + "</tr>" }.joined(separator: "\n")
        }
        let e = HTML.escape
        var page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta http-equiv="refresh" content="5">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(e(name)) · usbp2p</title>
            <style>
            body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 60em; padding: 0 1em; color: #222 }
            h1 { font-size: 1.4em; margin-bottom: 0.2em } h2 { font-size: 1.1em; margin-top: 1.5em }
            table { border-collapse: collapse; width: 100% } td, th { text-align: left; padding: 0.3em 0.6em; border-bottom: 1px solid #ddd }
            .muted { color: #777 } .error { background: #fdd; border: 1px solid #c00; padding: 0.6em }
            .led { display: inline-block; padding: 0.1em 0.6em; border-radius: 1em; background: #eee }
            </style></head><body>
            <h1>\(e(name))</h1>
            <p class="muted">usbp2p appliance \(e(version)) · EndpointId <code>\(e(endpointId))</code> · \(e(time))</p>
            <p>LED: <span class="led">\(e(led))</span> · \(online ? "online" : "no network")
             · pairing \(pairingOpenSeconds.map { "open for \($0) s" } ?? "closed")</p>

            """
        if let settingsError {
            page +=
                "<p class=\"error\">The card's settings (usbp2p.toml) were refused: \(e(settingsError)). "
                + "The last good settings are in effect.</p>\n"
        }
        page += "<h2>Devices</h2>\n"
        page +=
            devices.isEmpty
            ? "<p class=\"muted\">No USB device is plugged in.</p>\n"
            : "<table><tr><th>port</th><th>device</th><th>id</th><th>shared</th><th>attached by</th></tr>\n"
                + rows(
                    devices.map {
                        [e($0.busid), e($0.name), e($0.ids), e($0.sharing), e($0.attachedBy ?? "—")]
                    }) + "</table>\n"
        page += "<h2>Laptops</h2>\n"
        page +=
            laptops.isEmpty
            ? "<p class=\"muted\">No laptop is paired: press the button, then pair with the label's code.</p>\n"
            : "<table><tr><th>laptop</th><th>id</th><th>session</th><th>round trip</th></tr>\n"
                + rows(
                    laptops.map { laptop in
                        [
                            e(laptop.name) + (laptop.owner ? " <span class=\"muted\">(owner)</span>" : ""),
                            e(laptop.id),
                            laptop.path.map { e($0) + (laptop.connected ? "" : " (reconnecting)") } ?? "—",
                            laptop.roundTripMilliseconds.map { "\($0) ms" } ?? "—",
                        ]
                    }) + "</table>\n"
        page += "<h2>Recent events</h2>\n"
        page +=
            events.isEmpty
            ? "<p class=\"muted\">None yet.</p>\n"
            : "<table>\n" + rows(events.reversed().map { [e($0.time), e($0.event), e($0.text)] }) + "</table>\n"
        return page
            + "<p class=\"muted\">The same as JSON: <a href=\"/status.json\">/status.json</a></p>\n</body></html>\n"
    }
}

public enum HTML {
    /// Text safe inside an element or a quoted attribute.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
