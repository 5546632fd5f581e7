// Control messages travel on channel 0, one per data frame:
//
//   byte 0: kind   1 open      channel u16        client → server: bridge a new channel
//                                                 to the USB/IP server (list or import)
//                  2 refused   channel u16, text  server → client: that channel is not open
//                  3 devices changed              server → client: a device came or went
//                  4 goodbye   text               either: the session ends now, no resume

/// A message on the control channel.
public enum ControlMessage: Equatable, Sendable {
    case open(channel: UInt16)
    case refused(channel: UInt16, reason: String)
    case devicesChanged
    case goodbye(reason: String)

    /// Texts are cut to this many bytes (they are for logs and error messages).
    static let maxText = 1024

    public var encoded: [UInt8] {
        switch self {
        case .open(let channel): [1, UInt8(channel >> 8), UInt8(channel & 0xff)]
        case .refused(let channel, let reason):
            [2, UInt8(channel >> 8), UInt8(channel & 0xff)] + Array(reason.utf8.prefix(Self.maxText))
        case .devicesChanged: [3]
        case .goodbye(let reason): [4] + Array(reason.utf8.prefix(Self.maxText))
        }
    }

    public init(decoding bytes: [UInt8]) throws(SessionFrameError) {
        guard let kind = bytes.first else { throw .malformed("empty control message") }
        func channel() throws(SessionFrameError) -> UInt16 {
            guard bytes.count >= 3 else { throw .malformed("control message \(kind) without a channel") }
            let id = UInt16(bytes[1]) << 8 | UInt16(bytes[2])
            guard id != 0 else { throw .malformed("control message \(kind) for channel 0") }
            return id
        }
        func text(from offset: Int) throws(SessionFrameError) -> String {
            let slice = bytes[offset...]
            guard slice.count <= Self.maxText else { throw .malformed("control text of \(slice.count) bytes") }
            return String(decoding: slice, as: UTF8.self)
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
        default: throw .malformed("unknown control message \(kind)")
        }
    }
}
