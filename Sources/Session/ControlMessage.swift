import Identity
import Sockets

// Control messages travel on channel 0, one per data frame:
//
//   byte 0: kind   1 open      channel u16        client → server: bridge a new channel
//                                                 to the USB/IP server (list or import)
//                  2 refused   channel u16, text  server → client: that channel is not open
//                  3 devices changed              server → client: a device came or went
//                  4 goodbye   text               either: the session ends now, no resume
//                  5 addresses endpoints          server → client: where its session listener
//                                                 may be reached directly (LAN, mapped, public)
//                  6 punch     endpoints          client → server: "dial me here at sync"; the
//                                                 server answers with its own punch addresses
//                  7 sync                         client → server: dial now (the client waits
//                                                 half the punch round trip, then dials too)
//                  8 device names  names          server → client: what its devices are called
//                                                 (sent at the start and after each change)
//                  9 sharing   action u8 (1 share, 2 unshare), busid length u8 (1-31), busid,
//                              count u8 (≤ 16), count × 32-byte EndpointId keys
//                                                 client → server: the owner shares a device
//                                                 with everyone (count 0) or these laptops,
//                                                 or unshares it
//                 10 sharing result  ok u8 (0 or 1), text
//                                                 server → client: what became of it
//                 11 audit     since (UTF-8, ≤ 64 bytes: a UTC time or an age; empty: all)
//                                                 client → server: the owner asks for the
//                                                 audit log's recent events
//                 12 audit part  flags u8 (bit 0 last, bit 1 refused; no other bits), text
//                              (UTF-8, ≤ 4096 bytes)
//                                                 server → client: one event, a JSON line as
//                                                 the log keeps it; the last part's text says
//                                                 what was left out (or is empty), or why the
//                                                 request was refused
//
//   names: count u8 (≤ 64), then per device: busid length u8 (1-31), busid (ASCII digits,
//   '-' and '.'), name length u8 (≤ 127), name (UTF-8, "manufacturer product").
//   endpoints: count u8 (≤ 16), then per endpoint: family u8 (4 or 6), address (4 or 16
//   bytes), port u16 (not 0). Everything big-endian.

/// A message on the control channel.
public enum ControlMessage: Equatable, Sendable {
    case open(channel: UInt16)
    case refused(channel: UInt16, reason: String)
    case devicesChanged
    case goodbye(reason: String)
    case addresses([Endpoint])
    case punch([Endpoint])
    case sync
    case deviceNames([DeviceName])
    /// Share (`share` true) a device, by bus id, with everyone (no laptops) or these; or
    /// unshare it.
    case sharing(share: Bool, busid: String, laptops: [EndpointId])
    case sharingResult(ok: Bool, text: String)
    /// The owner asks for the audit log's events since a time or an age (empty: all).
    case auditRequest(since: String)
    /// One event of the answer, or (last) the note that ends it or the refusal.
    case auditPart(last: Bool, refused: Bool, text: String)

    /// Texts are cut to this many bytes (they are for logs and error messages).
    static let maxText = 1024
    /// Endpoints in one message at most (extra ones are left out when encoding).
    public static let maxEndpoints = 16
    /// Laptops named in one sharing request at most.
    public static let maxLaptops = 16
    /// An audit request's "since" at most, in bytes.
    public static let maxAuditSince = 64
    /// An audit part's text at most, in bytes (an event line is far shorter: its fields
    /// are cut to 512 bytes each).
    public static let maxAuditText = 4096

    public var encoded: [UInt8] {
        switch self {
        case .open(let channel): [1, UInt8(channel >> 8), UInt8(channel & 0xff)]
        case .refused(let channel, let reason):
            [2, UInt8(channel >> 8), UInt8(channel & 0xff)] + Array(reason.utf8.prefix(Self.maxText))
        case .devicesChanged: [3]
        case .goodbye(let reason): [4] + Array(reason.utf8.prefix(Self.maxText))
        case .addresses(let endpoints): [5] + Self.encode(endpoints)
        case .punch(let endpoints): [6] + Self.encode(endpoints)
        case .sync: [7]
        case .deviceNames(let names): Self.encode(names)
        case .sharing(let share, let busid, let laptops):
            [9, share ? 1 : 2, UInt8(min(busid.utf8.count, DeviceName.maxBusid))]
                + Array(busid.utf8.prefix(DeviceName.maxBusid)) + [UInt8(min(laptops.count, Self.maxLaptops))]
                + laptops.prefix(Self.maxLaptops).flatMap(\.publicKey)
        case .sharingResult(let ok, let text): [10, ok ? 1 : 0] + Array(text.utf8.prefix(Self.maxText))
        case .auditRequest(let since): [11] + Array(since.utf8.prefix(Self.maxAuditSince))
        case .auditPart(let last, let refused, let text):
            [12, (last ? 1 : 0) | (refused ? 2 : 0)] + Array(text.utf8.prefix(Self.maxAuditText))
        }
    }

    private static func encode(_ names: [DeviceName]) -> [UInt8] {
        var bytes: [UInt8] = [8, UInt8(min(names.count, maxNames))]
        for name in names.prefix(maxNames) {
            bytes.append(UInt8(name.busid.utf8.count))
            bytes += name.busid.utf8
            bytes.append(UInt8(name.name.utf8.count))
            bytes += name.name.utf8
        }
        return bytes
    }

    /// Devices named in one message at most.
    public static let maxNames = 64

    private static func decodeNames(_ bytes: ArraySlice<UInt8>) throws(SessionFrameError) -> [DeviceName] {
        guard let count = bytes.first else { throw .malformed("device names without a count") }
        guard count <= maxNames else { throw .malformed("\(count) device names, at most \(maxNames)") }
        var names: [DeviceName] = []
        var offset = bytes.startIndex + 1
        func field(_ what: String, max: Int) throws(SessionFrameError) -> ArraySlice<UInt8> {
            guard offset < bytes.endIndex else { throw .malformed("device names cut short") }
            let length = Int(bytes[offset])
            guard length <= max else { throw .malformed("a device \(what) of \(length) bytes") }
            guard bytes.endIndex - offset - 1 >= length else { throw .malformed("device names cut short") }
            defer { offset += 1 + length }
            return bytes[(offset + 1)..<(offset + 1 + length)]
        }
        for _ in 0..<count {
            let busid = try field("bus id", max: DeviceName.maxBusid)
            let name = try field("name", max: DeviceName.maxName)
            guard let busidText = String(validating: busid, as: UTF8.self),
                let nameText = String(validating: name, as: UTF8.self),
                let device = DeviceName(busid: busidText, name: nameText), device.name == nameText
            else { throw .malformed("a device name that is not a bus id and UTF-8 text") }
            names.append(device)
        }
        guard offset == bytes.endIndex else {
            throw .malformed("\(bytes.endIndex - offset) bytes after the device names")
        }
        return names
    }

    private static func decodeSharing(_ bytes: ArraySlice<UInt8>) throws(SessionFrameError) -> ControlMessage {
        var rest = bytes
        guard let action = rest.popFirst(), action == 1 || action == 2 else {
            throw .malformed("sharing without action 1 or 2")
        }
        guard let length = rest.popFirst(), (1...DeviceName.maxBusid).contains(Int(length)), rest.count > Int(length)
        else { throw .malformed("sharing without a bus id") }
        let busidBytes = rest.prefix(Int(length))
        rest = rest.dropFirst(Int(length))
        guard let busid = String(validating: busidBytes, as: UTF8.self), DeviceName(busid: busid, name: "") != nil
        else {
            throw .malformed("sharing of a bus id that is not one")
        }
        guard let count = rest.popFirst(), count <= maxLaptops else {
            throw .malformed("sharing with too many laptops")
        }
        let keyLength = 32
        guard rest.count == Int(count) * keyLength else {
            throw .malformed("sharing with \(count) laptops in \(rest.count) bytes")
        }
        let laptops = (0..<Int(count)).map { index in
            EndpointId(publicKey: Array(rest.dropFirst(index * keyLength).prefix(keyLength)))
        }
        if action == 2, !laptops.isEmpty { throw .malformed("unsharing names no laptops") }
        return .sharing(share: action == 1, busid: busid, laptops: laptops)
    }

    /// Numeric endpoints only; others (host names) are left out.
    private static func encode(_ endpoints: [Endpoint]) -> [UInt8] {
        var bytes: [UInt8] = [0]
        for endpoint in endpoints where bytes[0] < maxEndpoints && endpoint.port != 0 {
            guard let address = endpoint.addressBytes else { continue }
            bytes += [address.count == 4 ? 4 : 6] + address + [UInt8(endpoint.port >> 8), UInt8(endpoint.port & 0xff)]
            bytes[0] += 1
        }
        return bytes
    }

    private static func decodeEndpoints(_ bytes: ArraySlice<UInt8>) throws(SessionFrameError) -> [Endpoint] {
        guard let count = bytes.first else { throw .malformed("endpoint list without a count") }
        guard count <= maxEndpoints else { throw .malformed("\(count) endpoints, at most \(maxEndpoints)") }
        var endpoints: [Endpoint] = []
        var offset = bytes.startIndex + 1
        for _ in 0..<count {
            guard offset < bytes.endIndex else { throw .malformed("endpoint list cut short") }
            let length: Int
            switch bytes[offset] {
            case 4: length = 4
            case 6: length = 16
            default: throw .malformed("endpoint family \(bytes[offset])")
            }
            guard bytes.endIndex - offset >= 1 + length + 2 else { throw .malformed("endpoint list cut short") }
            let address = Array(bytes[(offset + 1)..<(offset + 1 + length)])
            let port = UInt16(bytes[offset + 1 + length]) << 8 | UInt16(bytes[offset + 2 + length])
            guard port != 0, let endpoint = Endpoint(addressBytes: address, port: port) else {
                throw .malformed("endpoint with port 0")
            }
            endpoints.append(endpoint)
            offset += 1 + length + 2
        }
        guard offset == bytes.endIndex else { throw .malformed("\(bytes.endIndex - offset) bytes after the endpoints") }
        return endpoints
    }

    public init(decoding bytes: [UInt8]) throws(SessionFrameError) {
        guard let kind = bytes.first else { throw .malformed("empty control message") }
        func channel() throws(SessionFrameError) -> UInt16 {
            guard bytes.count >= 3 else { throw .malformed("control message \(kind) without a channel") }
            let id = UInt16(bytes[1]) << 8 | UInt16(bytes[2])
            guard id != 0 else { throw .malformed("control message \(kind) for channel 0") }
            return id
        }
        func text(from offset: Int, max: Int = Self.maxText) throws(SessionFrameError) -> String {
            let slice = bytes[offset...]
            guard slice.count <= max else { throw .malformed("control text of \(slice.count) bytes") }
            // Refused, not mended: a text decoded with replacement characters would not
            // be what the peer sent, and could grow past the bound once encoded again.
            guard let text = String(validating: slice, as: UTF8.self) else {
                throw .malformed("control text not UTF-8")
            }
            return text
        }
        switch kind {
        case 1:
            guard bytes.count == 3 else { throw .malformed("open of \(bytes.count) bytes") }
            self = .open(channel: try channel())
        case 2: self = .refused(channel: try channel(), reason: try text(from: 3))
        case 3:
            guard bytes.count == 1 else { throw .malformed("devices-changed of \(bytes.count) bytes") }
            self = .devicesChanged
        case 4: self = .goodbye(reason: try text(from: 1))
        case 5: self = .addresses(try Self.decodeEndpoints(bytes[1...]))
        case 6: self = .punch(try Self.decodeEndpoints(bytes[1...]))
        case 7:
            guard bytes.count == 1 else { throw .malformed("sync of \(bytes.count) bytes") }
            self = .sync
        case 8: self = .deviceNames(try Self.decodeNames(bytes[1...]))
        case 9: self = try Self.decodeSharing(bytes[1...])
        case 10:
            guard bytes.count >= 2, bytes[1] <= 1 else { throw .malformed("sharing result without ok 0 or 1") }
            self = .sharingResult(ok: bytes[1] == 1, text: try text(from: 2))
        case 11: self = .auditRequest(since: try text(from: 1, max: Self.maxAuditSince))
        case 12:
            guard bytes.count >= 2, bytes[1] & ~3 == 0 else { throw .malformed("audit part without flags 0-3") }
            guard bytes[1] != 2 else { throw .malformed("an audit refusal that is not the last part") }
            self = .auditPart(
                last: bytes[1] & 1 != 0, refused: bytes[1] & 2 != 0, text: try text(from: 2, max: Self.maxAuditText))
        default: throw .malformed("unknown control message \(kind)")
        }
    }
}

/// What a server's device is called ("SanDisk Ultra"), by its bus id: `list` shows it and
/// `attach` can select by it (USB/IP's own device list carries no names).
public struct DeviceName: Equatable, Sendable {
    public static let maxBusid = 31
    public static let maxName = 127

    public let busid: String
    public let name: String

    /// Nil for a bus id that is not one; a long name is cut at a character boundary, and
    /// control characters become spaces.
    public init?(busid: String, name: String) {
        guard !busid.isEmpty, busid.utf8.count <= Self.maxBusid,
            busid.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-" || $0 == ".") })
        else { return nil }
        self.busid = busid
        var cut = ""
        for character in name {
            let clean: Character =
                character.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7f } ? character : " "
            if cut.utf8.count + String(clean).utf8.count > Self.maxName { break }
            cut.append(clean)
        }
        self.name = cut
    }
}
