import FileSystem

// How a client reached each paired server (state_directory/ways), so that `attach` finds
// it again with no settings of its own: the relay and its EndpointId (from the pairing
// code's hints, or the client's settings at pairing), and the server's direct addresses
// (given at pairing, then those the server sends inside its sessions). One line a server:
//
//   # usbp2p-client ways: how each paired server was reached
//   fzq3...(56)  relay=198.18.0.1:443  relay-id=ab12...(56)  direct=10.1.0.2:7575,192.168.1.20:7575
//
// Every address is numeric with a port. Only hints: every way ends in the same TLS
// handshake pinned to the server's key.

/// The ways to each paired server.
public struct PeerWays: Equatable, Sendable {
    public struct Ways: Equatable, Sendable {
        /// "198.18.0.1:443" or "[2001:db8::1]:443".
        public var relay: String?
        public var relayId: EndpointId?
        /// The server's direct addresses, the last learned first.
        public var direct: [String]

        public init(relay: String? = nil, relayId: EndpointId? = nil, direct: [String] = []) {
            self.relay = relay
            self.relayId = relayId
            self.direct = direct
        }
    }

    /// At most this many direct addresses per server (a server sends a handful).
    public static let maxDirect = 8
    static let maxSize = 1 << 20
    static let header = "# usbp2p-client ways: how each paired server was reached (pair and attach write this)"

    private var ways: [EndpointId: Ways] = [:]

    public init() {}

    public subscript(_ server: EndpointId) -> Ways? {
        get { ways[server] }
        set {
            guard var newValue else {
                ways[server] = nil
                return
            }
            newValue.direct = Array(newValue.direct.filter(PairingHints.isNumericAddressAndPort).prefix(Self.maxDirect))
            if let relay = newValue.relay, !PairingHints.isNumericAddressAndPort(relay) { newValue.relay = nil }
            ways[server] = newValue
        }
    }

    public init(parsing text: String, path: String) throws(PeerWaysError) {
        for (index, raw) in text.fileLines.enumerated() {
            let line = String(raw).trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            func bad(_ why: String) -> PeerWaysError { .badLine(path: path, line: index + 1, why) }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            let server: EndpointId
            do throws(EndpointIdError) { server = try EndpointId(parsing: String(words[0])) } catch {
                throw bad("\(error)")
            }
            var entry = Ways()
            for word in words.dropFirst() {
                let parts = word.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw bad("'\(word)' is not key=value") }
                let value = String(parts[1])
                switch parts[0] {
                case "relay":
                    guard PairingHints.isNumericAddressAndPort(value) else {
                        throw bad("relay '\(value)' is not a numeric address and port")
                    }
                    entry.relay = value
                case "relay-id":
                    do throws(EndpointIdError) { entry.relayId = try EndpointId(parsing: value) } catch {
                        throw bad("relay-id: \(error)")
                    }
                case "direct":
                    let addresses = value.split(separator: ",").map(String.init)
                    guard addresses.count <= Self.maxDirect else {
                        throw bad("more than \(Self.maxDirect) direct addresses")
                    }
                    for address in addresses where !PairingHints.isNumericAddressAndPort(address) {
                        throw bad("direct '\(address)' is not a numeric address and port")
                    }
                    entry.direct = addresses
                default: throw bad("unknown key '\(parts[0])' (relay, relay-id, direct)")
                }
            }
            ways[server] = entry
        }
    }

    /// The ways at `path`; none when the file does not exist yet.
    public static func load(from path: String) throws(PeerWaysError) -> PeerWays {
        let text: String?
        do throws(SystemError) { text = try AtomicFile.readState(path, maxSize: maxSize) } catch {
            throw .unreadable(error)
        }
        guard let text else { return PeerWays() }
        return try PeerWays(parsing: text, path: path)
    }

    public var text: String {
        Self.header + "\n"
            + ways.sorted { $0.key.description < $1.key.description }.map { server, entry in
                var line = "\(server)"
                if let relay = entry.relay { line += "  relay=\(relay)" }
                if let relayId = entry.relayId { line += "  relay-id=\(relayId)" }
                if !entry.direct.isEmpty { line += "  direct=\(entry.direct.joined(separator: ","))" }
                return line + "\n"
            }.joined()
    }

    public func save(to path: String) throws(PeerWaysError) {
        do throws(SystemError) { try AtomicFile.writeState(text, to: path) } catch { throw .unreadable(error) }
    }
}

public enum PeerWaysError: Error, Equatable, Sendable, CustomStringConvertible {
    case badLine(path: String, line: Int, String)
    case unreadable(SystemError)

    public var description: String {
        switch self {
        case .badLine(let path, let line, let why): "\(path), line \(line): \(why)"
        case .unreadable(let error): "ways to the servers: \(error)"
        }
    }
}
