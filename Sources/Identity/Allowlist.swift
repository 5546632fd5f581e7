import FileSystem

// The server's allowlist: the EndpointIds that may open sessions, one per line, each
// with an optional name (the rest of the line). '#' starts a comment line.
//
//   # usbp2pd allowlist
//   fzq3...(56 characters)  Anna's laptop  # added 2026-12-01
//
// The "# added DATE" tail is when the entry was made (pairing writes it; names cannot
// hold '#'). The client's list of paired servers (PeerList) has the same form.
// Written atomically (pairing adds to it while the service runs); read again for each
// handshake, so an entry takes effect without a restart.

/// EndpointIds a server accepts, with the names people gave them.
public struct Allowlist: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public let id: EndpointId
        public let name: String
        /// When it was added ("2026-12-01"), or "" if not recorded.
        public let added: String
    }

    public private(set) var entries: [Entry] = []
    /// The comment line the file starts with.
    var header = "# usbp2pd allowlist: EndpointIds that may use this server's devices, each with a name."
    /// A larger file is refused unread (a list of people's laptops is small).
    static let maxSize = 1 << 20

    public init() {}

    public func contains(_ id: EndpointId) -> Bool { entries.contains { $0.id == id } }

    /// Adds `id` (renaming it if present). Names are one line of text.
    public mutating func add(_ id: EndpointId, name: String, added: String = "") {
        let clean = { (text: String) in String(text.map { $0.isNewline || $0 == "#" ? " " : $0 }).trimmingSpaces }
        let entry = Entry(id: id, name: clean(name), added: clean(added))
        if let index = entries.firstIndex(where: { $0.id == id }) {
            entries[index] = entry
        } else {
            entries.append(entry)
        }
    }

    public mutating func removeAll() { entries.removeAll() }

    public mutating func remove(_ id: EndpointId) { entries.removeAll { $0.id == id } }

    public init(parsing text: String, path: String) throws(AllowlistError) {
        for (index, raw) in text.fileLines.enumerated() {
            let line = String(raw).trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            let id = String(line.prefix { $0 != " " && $0 != "\t" })
            var name = String(line.dropFirst(id.count))
            var added = ""
            if let mark = name.firstIndex(of: "#") {
                let comment = name[name.index(after: mark)...].drop { $0 == " " }
                if comment.hasPrefix("added ") { added = String(comment.dropFirst("added ".count)) }
                name = String(name[..<mark])
            }
            do throws(EndpointIdError) {
                add(try EndpointId(parsing: id), name: name, added: added)
            } catch {
                throw .badLine(path: path, line: index + 1, error)
            }
        }
    }

    /// The allowlist at `path`; empty when the file does not exist yet.
    public static func load(from path: String) throws(AllowlistError) -> Allowlist {
        let text: String?
        do throws(SystemError) { text = try AtomicFile.readState(path, maxSize: maxSize) } catch {
            throw .unreadable(error)
        }
        guard let text else { return Allowlist() }
        return try Allowlist(parsing: text, path: path)
    }

    public var text: String {
        header + "\n"
            + entries.map { entry in
                var line = entry.name.isEmpty ? "\(entry.id)" : "\(entry.id)  \(entry.name)"
                if !entry.added.isEmpty { line += "  # added \(entry.added)" }
                return line + "\n"
            }.joined()
    }

    public func save(to path: String) throws(AllowlistError) {
        do throws(SystemError) { try AtomicFile.writeState(text, to: path) } catch { throw .unreadable(error) }
    }
}

public enum AllowlistError: Error, Equatable, Sendable, CustomStringConvertible {
    case badLine(path: String, line: Int, EndpointIdError)
    case unreadable(SystemError)

    public var description: String {
        switch self {
        case .badLine(let path, let line, let error): "\(path), line \(line): \(error)"
        case .unreadable(let error): "allowlist: \(error)"
        }
    }
}

extension String {
    public var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
