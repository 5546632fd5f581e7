import FileSystem
import Identity

// Who owns the appliance and which of its devices are shared with whom: usbp2pd's
// state_directory/sharing, written by `usbp2pd owner|share|unshare` and by the owner's
// laptop (through the service), read by the service whenever it changes.
//
//   # usbp2pd sharing
//   owner fzq3…(EndpointId)
//   shared   0781:5581 serial=4C530001
//   unshared 046d:c52b port=1-1.3
//   shared   1d6b:0104 serial=X for fzq3… fzq4…
//
// A device is known by its vendor:product and its serial number, or its port when it has
// none (the key a device keeps when it moves to another port, if it can). The owner uses
// every device (it is the owner's appliance); the others use what is shared with them.
// A device with no line here is new: `sharing.new_devices` decides.

/// A device as the sharing file names it: vendor:product and its serial or port.
public struct DeviceKey: Hashable, Sendable, CustomStringConvertible {
    public enum Where: Hashable, Sendable {
        case serial(String)
        case port(String)
    }

    public let vendor: UInt16
    public let product: UInt16
    public let place: Where

    public init(vendor: UInt16, product: UInt16, place: Where) {
        self.vendor = vendor
        self.product = product
        self.place = place
    }

    /// The serial number when the device has a usable one, else its port.
    public init(_ device: DeviceFacts) {
        vendor = device.vendor
        product = device.product
        if let serial = device.serial, Self.isUsableSerial(serial) {
            place = .serial(serial)
        } else {
            place = .port(device.busid)
        }
    }

    /// A serial that fits on one line of the file as one word (printable ASCII without
    /// spaces); others (rare, and often garbage) are keyed by port instead.
    static func isUsableSerial(_ serial: String) -> Bool {
        !serial.isEmpty && serial.utf8.count <= 126 && serial.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f }
    }

    public func matches(_ device: DeviceFacts) -> Bool { DeviceKey(device) == self }

    public var description: String {
        // Four hex digits each, as lsusb writes them.
        let ids =
            "\(String(0x10000 | UInt32(vendor), radix: 16).dropFirst()):"
            + String(0x10000 | UInt32(product), radix: 16).dropFirst()
        switch place {
        case .serial(let serial): return "\(ids) serial=\(serial)"
        case .port(let busid): return "\(ids) port=\(busid)"
        }
    }

    /// "VVVV:PPPP serial=S" or "VVVV:PPPP port=B" (two words).
    public init?(words: [Substring]) {
        guard words.count == 2 else { return nil }
        let ids = words[0].split(separator: ":", omittingEmptySubsequences: false)
        guard ids.count == 2, ids[0].count == 4, ids[1].count == 4, let vendor = UInt16(ids[0], radix: 16),
            let product = UInt16(ids[1], radix: 16)
        else { return nil }
        self.vendor = vendor
        self.product = product
        if words[1].hasPrefix("serial=") {
            let serial = String(words[1].dropFirst("serial=".count))
            guard Self.isUsableSerial(serial) else { return nil }
            place = .serial(serial)
        } else if words[1].hasPrefix("port=") {
            let busid = String(words[1].dropFirst("port=".count))
            guard !busid.isEmpty, busid.count <= 31,
                busid.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-" || $0 == ".") })
            else { return nil }
            place = .port(busid)
        } else {
            return nil
        }
    }
}

/// With whom a device is shared.
public enum Share: Equatable, Sendable, CustomStringConvertible {
    /// Only the owner uses it.
    case unshared
    /// Every paired laptop (the access rules still apply).
    case everyone
    /// These laptops (and the owner).
    case only([EndpointId])

    public var description: String {
        switch self {
        case .unshared: "unshared"
        case .everyone: "shared"
        case .only(let ids): "shared with " + ids.map(\.description).joined(separator: ", ")
        }
    }
}

/// What `sharing.new_devices` says of a device the sharing file does not name.
public enum NewDevices: String, Sendable, CaseIterable {
    case shared, unshared

    public var share: Share { self == .shared ? .everyone : .unshared }
}

public struct SharingState: Equatable, Sendable {
    /// The owner set by hand (`usbp2pd owner`); nil: the first laptop on the allowlist.
    public var owner: EndpointId?
    /// Each device's share, in the order first set.
    public private(set) var devices: [(key: DeviceKey, share: Share)] = []

    /// Devices remembered at most; the oldest go first (a Pi sees few devices, but every
    /// stick ever plugged in would otherwise stay forever).
    public static let maxDevices = 256
    /// A larger file is refused unread.
    static let maxSize = 1 << 20
    static let header =
        "# usbp2pd sharing: the owner, and with whom each device is shared (usbp2pd owner, share, unshare)."

    public init(owner: EndpointId? = nil) { self.owner = owner }

    public static func == (a: SharingState, b: SharingState) -> Bool {
        a.owner == b.owner && a.devices.elementsEqual(b.devices) { $0.key == $1.key && $0.share == $1.share }
    }

    public func share(of key: DeviceKey) -> Share? { devices.first { $0.key == key }?.share }

    public mutating func set(_ key: DeviceKey, _ share: Share) {
        devices.removeAll { $0.key == key }
        devices.append((key, share))
        if devices.count > Self.maxDevices { devices.removeFirst(devices.count - Self.maxDevices) }
    }

    public init(parsing text: String, path: String) throws(SharingError) {
        for (index, raw) in text.fileLines.enumerated() {
            let line = String(raw).trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            func bad(_ why: String) -> SharingError { .badLine(path: path, line: index + 1, why) }
            switch words[0] {
            case "owner":
                guard words.count == 2 else { throw bad("expected 'owner ENDPOINTID'") }
                do throws(EndpointIdError) { owner = try EndpointId(parsing: String(words[1])) } catch {
                    throw bad("the owner is \(error)")
                }
            case "shared", "unshared":
                guard words.count >= 3, let key = DeviceKey(words: Array(words[1...2])) else {
                    throw bad("expected '\(words[0]) VVVV:PPPP serial=SERIAL' or '\(words[0]) VVVV:PPPP port=BUSID'")
                }
                if words[0] == "unshared" {
                    guard words.count == 3 else { throw bad("'unshared' takes only the device") }
                    set(key, .unshared)
                } else if words.count == 3 {
                    set(key, .everyone)
                } else {
                    guard words[3] == "for", words.count > 4 else { throw bad("expected 'for' and EndpointIds") }
                    var ids: [EndpointId] = []
                    for word in words[4...] {
                        do throws(EndpointIdError) { ids.append(try EndpointId(parsing: String(word))) } catch {
                            throw bad("'\(word)' is \(error)")
                        }
                    }
                    set(key, .only(ids))
                }
            default:
                throw bad("'\(words[0])' is not owner, shared or unshared")
            }
        }
    }

    public var text: String {
        var lines = [Self.header]
        if let owner { lines.append("owner \(owner)") }
        for (key, share) in devices {
            switch share {
            case .unshared: lines.append("unshared \(key)")
            case .everyone: lines.append("shared \(key)")
            case .only(let ids): lines.append("shared \(key) for " + ids.map(\.description).joined(separator: " "))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The state at `path`; empty when the file does not exist yet.
    public static func load(from path: String) throws(SharingError) -> SharingState {
        let text: String?
        do throws(SystemError) { text = try AtomicFile.readState(path, maxSize: maxSize) } catch {
            throw .unreadable(error)
        }
        guard let text else { return SharingState() }
        return try SharingState(parsing: text, path: path)
    }

    /// Readable by the service only (it names the laptops).
    public func save(to path: String) throws(SystemError) {
        try AtomicFile.write(Array(text.utf8), to: path, mode: 0o600)
    }
}

public enum SharingError: Error, Equatable, Sendable, CustomStringConvertible {
    case badLine(path: String, line: Int, String)
    case unreadable(SystemError)

    public var description: String {
        switch self {
        case .badLine(let path, let line, let why): "\(path), line \(line): \(why)"
        case .unreadable(let error): "\(error)"
        }
    }
}
