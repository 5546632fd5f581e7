import FoundationEssentials

/// What `usbp2p-client ui` shows, as the service reports it (the request `view`, whose
/// reply's output is this as one line of JSON).
public struct ViewState: Codable, Equatable, Sendable {
    public struct Device: Codable, Equatable, Sendable {
        public var busid: String
        public var vendor: UInt16
        public var product: UInt16
        /// What the server calls it ("manufacturer product"), escaped for a terminal.
        public var name: String?
        /// The vhci port it is attached on here, if it is.
        public var port: Int?
        /// A wish keeps it attached.
        public var wished: Bool
        /// What its channel has carried out and in, while attached here.
        public var bytesSent: UInt64?
        public var bytesReceived: UInt64?

        public init(
            busid: String, vendor: UInt16, product: UInt16, name: String?, port: Int?, wished: Bool,
            bytesSent: UInt64? = nil, bytesReceived: UInt64? = nil
        ) {
            (self.busid, self.vendor, self.product, self.name, self.port, self.wished) =
                (busid, vendor, product, name, port, wished)
            (self.bytesSent, self.bytesReceived) = (bytesSent, bytesReceived)
        }
    }

    public struct Server: Codable, Equatable, Sendable {
        public var id: String
        public var name: String
        /// How its session runs ("connected, relay 198.18.0.1:443"), or why there is none.
        public var state: String
        public var roundTripMilliseconds: Double?
        public var bytesSent: UInt64
        public var bytesReceived: UInt64
        /// What it offers this laptop (empty while not connected).
        public var devices: [Device]

        public init(
            id: String, name: String, state: String, roundTripMilliseconds: Double?, bytesSent: UInt64,
            bytesReceived: UInt64, devices: [Device]
        ) {
            (self.id, self.name, self.state, self.roundTripMilliseconds) = (id, name, state, roundTripMilliseconds)
            (self.bytesSent, self.bytesReceived, self.devices) = (bytesSent, bytesReceived, devices)
        }
    }

    public var servers: [Server]
    /// One line per bridge (`usbp2p-client bridge`).
    public var bridges: [String]

    public init(servers: [Server], bridges: [String]) {
        self.servers = servers
        self.bridges = bridges
    }

    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The state in `text` (a `view` reply's output); nil if it is not one.
    public init?(json text: String) {
        guard let state = try? JSONDecoder().decode(ViewState.self, from: Data(text.utf8)) else { return nil }
        self = state
    }
}
