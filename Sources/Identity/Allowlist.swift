import FileSystem

// The server's allowlist: the EndpointIds that may open sessions, one per line, each
// with an optional name (the rest of the line). '#' starts a comment line.
//
//   # usbp2pd allowlist
//   fzq3...(56 characters)  Anna's laptop
//
// Written atomically (pairing adds to it while the service runs); read again for each
// handshake, so an entry takes effect without a restart.

/// EndpointIds a server accepts, with the names people gave them.
public struct Allowlist: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public let id: EndpointId
        public let name: String
    }

    public private(set) var entries: [Entry] = []
    /// A larger file is refused unread (a list of people's laptops is small).
    static let maxSize = 1 << 20

    public init() {}

    public func contains(_ id: EndpointId) -> Bool { entries.contains { $0.id == id } }

    /// Adds `id` (renaming it if present). Names are one line of text.
    public mutating func add(_ id: EndpointId, name: String) {
        let clean = String(name.map { $0.isNewline || $0 == "#" ? " " : $0 }).trimmingSpaces
        if let index = entries.firstIndex(where: { $0.id == id }) {
            entries[index] = Entry(id: id, name: clean)
        } else {
            entries.append(Entry(id: id, name: clean))
        }
    }

    public mutating func remove(_ id: EndpointId) { entries.removeAll { $0.id == id } }

    public init(parsing text: String, path: String) throws(AllowlistError) {
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw).trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            let id = String(line.prefix { $0 != " " && $0 != "\t" })
            do throws(EndpointIdError) {
                add(try EndpointId(parsing: id), name: String(line.dropFirst(id.count)))
            } catch {
                throw .badLine(path: path, line: index + 1, error)
            }
        }
    }

    /// The allowlist at `path`; empty when the file does not exist yet.
    public static func load(from path: String) throws(AllowlistError) -> Allowlist {
        guard AtomicFile.exists(path) else { return Allowlist() }
        let bytes: [UInt8]
        do throws(SystemError) { bytes = try AtomicFile.read(path, maxSize: maxSize) } catch {
            throw .unreadable(error)
        }
        return try Allowlist(parsing: String(decoding: bytes, as: UTF8.self), path: path)
    }

    public var text: String {
        "# usbp2pd allowlist: EndpointIds that may use this server's devices, each with a name.\n"
            + entries.map { $0.name.isEmpty ? "\($0.id)\n" : "\($0.id)  \($0.name)\n" }.joined()
    }

    public func save(to path: String) throws(AllowlistError) {
        do throws(SystemError) {
            let directory = AtomicFile.parentDirectory(of: path)
            if !AtomicFile.isDirectory(directory) { try AtomicFile.createDirectory(directory, mode: 0o700) }
            try AtomicFile.write(Array(text.utf8), to: path, mode: 0o600)
        } catch {
            throw .unreadable(error)
        }
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
    var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
