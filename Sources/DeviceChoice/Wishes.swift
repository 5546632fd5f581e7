import FileSystem
import Identity

// The devices a laptop's service keeps attached (state_directory/wishes): a wish says
// "keep this server's device attached" (by bus id, VID:PID or part of its name) or "keep
// every device of this server attached, new ones too". The service keeps them across
// network changes, the server's restarts and the laptop's reboots; detach removes them.
//
//   # usbp2p-client wishes: devices the service keeps attached
//   fzq3...(56)  ids 0781:5581
//   fzq3...(56)  busid 1-1.2
//   fzq3...(56)  name SanDisk Ultra
//   fzq3...(56)  every-device-including-new

/// One thing the user asked the service to keep attached.
public struct Wish: Equatable, Hashable, Sendable, CustomStringConvertible {
    public enum What: Equatable, Hashable, Sendable {
        case device(DeviceSelector)
        case everyDeviceIncludingNew
    }

    public let server: EndpointId
    public let what: What

    public init(server: EndpointId, what: What) {
        self.server = server
        self.what = what
    }

    public var description: String {
        switch what {
        case .device(let selector): "\(selector)"
        case .everyDeviceIncludingNew: "every device, new ones too"
        }
    }

    /// The line in the wishes file.
    var line: String {
        switch what {
        case .device(.busid(let busid)): "\(server)  busid \(busid)"
        case .device(.ids(let vendor, let product)): "\(server)  ids \(vidPid(vendor, product))"
        case .device(.name(let text)): "\(server)  name \(text)"
        case .everyDeviceIncludingNew: "\(server)  every-device-including-new"
        }
    }
}

extension DeviceSelector {
    var isIds: Bool {
        if case .ids = self { return true }
        return false
    }
}

/// Every wish of this laptop, in the order they were made.
public struct Wishes: Equatable, Sendable {
    public private(set) var all: [Wish] = []
    /// More are refused: a laptop keeps a handful of devices attached.
    public static let maxWishes = 256
    static let maxSize = 1 << 20
    static let header = "# usbp2p-client wishes: devices the service keeps attached (attach adds, detach removes)"

    public init() {}

    /// Adds `wish` unless it is there already; false when it was.
    @discardableResult
    public mutating func add(_ wish: Wish) throws(WishesError) -> Bool {
        if case .device(.name(let text)) = wish.what {
            guard Self.isUsableName(text) else { throw .badName(text) }
        }
        guard !all.contains(wish) else { return false }
        guard all.count < Self.maxWishes else { throw .tooMany }
        all.append(wish)
        return true
    }

    /// Removes the wishes `matching` says; returns them.
    @discardableResult
    public mutating func remove(where matching: (Wish) -> Bool) -> [Wish] {
        let removed = all.filter(matching)
        all.removeAll(where: matching)
        return removed
    }

    public func of(_ server: EndpointId) -> [Wish] { all.filter { $0.server == server } }

    /// A name kept on one line of the file, as typed: 1 to 256 bytes, no control
    /// characters, no spaces at either end.
    static func isUsableName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 256
            && !text.unicodeScalars.contains { $0.properties.generalCategory == .control }
            && text.first != " " && text.last != " "
    }

    /// The servers that have wishes, in the order of their first.
    public var servers: [EndpointId] {
        var seen: [EndpointId] = []
        for wish in all where !seen.contains(wish.server) { seen.append(wish.server) }
        return seen
    }

    public init(parsing text: String, path: String) throws(WishesError) {
        for (index, raw) in text.fileLines.enumerated() {
            let line = raw.drop { $0 == " " || $0 == "\t" }
            if line.isEmpty || line.hasPrefix("#") || line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) {
                continue
            }
            func bad(_ why: String) -> WishesError { .badLine(path: path, line: index + 1, why) }
            let idText = line.prefix { $0 != " " && $0 != "\t" }
            let server: EndpointId
            do throws(EndpointIdError) { server = try EndpointId(parsing: String(idText)) } catch {
                throw bad("\(error)")
            }
            let rest = line.dropFirst(idText.count).drop { $0 == " " || $0 == "\t" }
            let kind = rest.prefix { $0 != " " }
            let value = String(rest.dropFirst(kind.count).drop { $0 == " " })
            let what: Wish.What
            switch kind {
            case "busid":
                guard case .busid = DeviceSelector(value) else { throw bad("'\(value)' is not a bus id") }
                what = .device(.busid(value))
            case "ids":
                guard let selector = DeviceSelector(value), selector.isIds else {
                    throw bad("'\(value)' is not VID:PID")
                }
                what = .device(selector)
            case "name":
                let name = String(value.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
                what = .device(.name(name))
            case "every-device-including-new":
                guard value.isEmpty else { throw bad("nothing may follow every-device-including-new") }
                what = .everyDeviceIncludingNew
            default:
                throw bad("expected busid, ids, name or every-device-including-new after the server")
            }
            do throws(WishesError) { try add(Wish(server: server, what: what)) } catch { throw bad("\(error)") }
        }
    }

    /// The wishes at `path`; none when the file does not exist yet.
    public static func load(from path: String) throws(WishesError) -> Wishes {
        let text: String?
        do throws(SystemError) { text = try AtomicFile.readState(path, maxSize: maxSize) } catch {
            throw .unreadable(error)
        }
        guard let text else { return Wishes() }
        return try Wishes(parsing: text, path: path)
    }

    public var text: String { Self.header + "\n" + all.map { $0.line + "\n" }.joined() }

    public func save(to path: String) throws(WishesError) {
        do throws(SystemError) { try AtomicFile.writeState(text, to: path) } catch { throw .unreadable(error) }
    }
}

public enum WishesError: Error, Equatable, Sendable, CustomStringConvertible {
    case badLine(path: String, line: Int, String)
    case unreadable(SystemError)
    case tooMany
    case badName(String)

    public var description: String {
        switch self {
        case .badName: "a device name of 1 to 256 bytes on one line, without spaces at either end"
        case .badLine(let path, let line, let why): "\(path), line \(line): \(why)"
        case .unreadable(let error): "wishes: \(error)"
        case .tooMany: "at most \(Wishes.maxWishes) devices are kept attached; detach some first"
        }
    }
}
