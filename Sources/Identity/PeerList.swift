import FileSystem

/// The servers a client has paired with (state_directory/peers), in the allowlist's form:
/// EndpointId, the name the server gave, when it was paired.
public struct PeerList: Equatable, Sendable {
    private var list = Allowlist()

    public init() { list.header = Self.header }

    static let header = "# usbp2p-client peers: servers this client has paired with, each with its name."

    public var entries: [Allowlist.Entry] { list.entries }

    public mutating func add(_ id: EndpointId, name: String, added: String) { list.add(id, name: name, added: added) }
    public mutating func remove(_ id: EndpointId) { list.remove(id) }

    public static func load(from path: String) throws(AllowlistError) -> PeerList {
        var peers = PeerList()
        peers.list = try Allowlist.load(from: path)
        peers.list.header = header
        return peers
    }

    public func save(to path: String) throws(AllowlistError) { try list.save(to: path) }

    /// The peer a person means by `text`: its name (case-insensitive), its EndpointId, or
    /// the start of its EndpointId (at least 4 characters, and only one peer's).
    public func find(_ text: String) -> Result<Allowlist.Entry, PeerLookupError> {
        let wanted = text.lowercased()
        let byName = entries.filter { $0.name.lowercased() == wanted }
        if byName.count == 1 { return .success(byName[0]) }
        if byName.count > 1 { return .failure(.ambiguous(text, byName.map(\.name))) }
        let byId = wanted.count >= 4 ? entries.filter { $0.id.description.hasPrefix(wanted) } : []
        if byId.count == 1 { return .success(byId[0]) }
        if byId.count > 1 { return .failure(.ambiguous(text, byId.map { "\($0.id)" })) }
        return .failure(.unknown(text, entries.map { $0.name.isEmpty ? "\($0.id)" : $0.name }))
    }
}

public enum PeerLookupError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknown(String, [String])
    case ambiguous(String, [String])

    public var description: String {
        switch self {
        case .unknown(let text, let known):
            known.isEmpty
                ? "'\(text)' is not a paired server, and none is paired yet: usbp2p-client pair CODE"
                : "'\(text)' is not a paired server (paired: \(known.joined(separator: ", ")))"
        case .ambiguous(let text, let matches):
            "'\(text)' matches several paired servers (\(matches.joined(separator: ", "))): give more of it"
        }
    }
}
