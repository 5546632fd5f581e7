import ByteBuffers
import Sockets

// The frames of a session, inside TLS. Every frame has a 16-byte header, big-endian:
//
//   0        1        2                 4                                 8
//   +--------+--------+-----------------+---------------------------------+
//   | kind   | flags  | channel (u16)   | payload length (u32, bytes)     |
//   +--------+--------+-----------------+---------------------------------+
//   | number (u64): see below                                             |
//   +---------------------------------------------------------------------+
//   | payload ...                                                         |
//
//   kind    number means                     payload
//   hello   the sender has received through  version u16, flags u8, 0, session id [16]
//   data    this frame's sequence number     channel bytes (channel 0: one control message)
//   ack     the sender has received through  -
//   credit  bytes consumed on the channel    -
//   ping    the sender's clock (ns)          -
//   pong    the ping's number, echoed        -
//
// Data frames are numbered 1, 2, 3... in the order they are sent, across all channels,
// and kept by the sender until acknowledged: that is what lets a session resume on a
// new connection. A data frame with flag `fin` and no payload ends its channel.

/// One session frame.
public struct SessionFrame: Equatable, Sendable {
    public enum Kind: UInt8, Sendable {
        case hello = 1
        case data, ack, credit, ping, pong
    }

    public var kind: Kind
    public var flags: UInt8
    public var channel: UInt16
    public var number: UInt64
    /// A slice: a received frame's payload lies in the decoder's buffer, and the pieces of
    /// a message sent on a channel in the message's array (no copy either way).
    public var payload: ArraySlice<UInt8>
    /// What `payload` is a slice of when the session's pool provided it: handed back to
    /// the pool once the peer has acknowledged the frame.
    var storage: FrameStorage?

    public static let headerLength = 16
    /// The largest payload: a frame with its header fills one 16 KiB TLS record, and a
    /// bulk frame never holds a keyboard's frame back by more than that.
    public static let maxPayload = 16 * 1024 - headerLength
    public static let finFlag: UInt8 = 0x01

    public init(kind: Kind, flags: UInt8 = 0, channel: UInt16 = 0, number: UInt64 = 0, payload: ArraySlice<UInt8> = [])
    {
        precondition(payload.count <= Self.maxPayload)
        self.kind = kind
        self.flags = flags
        self.channel = channel
        self.number = number
        self.payload = payload
    }

    public init(kind: Kind, flags: UInt8 = 0, channel: UInt16 = 0, number: UInt64 = 0, payload: [UInt8]) {
        self.init(kind: kind, flags: flags, channel: channel, number: number, payload: payload[...])
    }

    public var isFin: Bool { kind == .data && flags & Self.finFlag != 0 }

    /// Frames are equal by what goes on the wire (where their bytes are kept is no part of it).
    public static func == (a: SessionFrame, b: SessionFrame) -> Bool {
        a.kind == b.kind && a.flags == b.flags && a.channel == b.channel && a.number == b.number
            && a.payload == b.payload
    }

    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.headerLength + payload.count)
        encode(into: &bytes)
        return bytes
    }

    /// Appends the frame's bytes to `bytes` (a buffer the writer reuses).
    public func encode(into bytes: inout [UInt8]) {
        bytes.append(kind.rawValue)
        bytes.append(flags)
        bytes.append(UInt8(channel >> 8))
        bytes.append(UInt8(channel & 0xff))
        let length = UInt32(payload.count)
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: length >> shift)) }
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: number >> shift)) }
        bytes.append(contentsOf: payload)
    }
}

/// What is wrong with bytes that claim to be frames.
public enum SessionFrameError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownKind(UInt8)
    case oversized(length: UInt32)
    case malformed(String)

    public var description: String {
        switch self {
        case .unknownKind(let k): "unknown frame kind \(k)"
        case .oversized(let n): "frame of \(n) bytes (at most \(SessionFrame.maxPayload))"
        case .malformed(let why): "malformed frame: \(why)"
        }
    }
}

/// Splits a byte stream into frames: `read(from:)` (or `append`) what arrived, then
/// `next()` until nil. Sizes are checked before a payload is taken. A frame's payload is
/// a slice of the decoder's buffer: it costs no copy, and the next read copies the buffer
/// only if a payload is still held then (correct, but slow: callers let them go).
public struct SessionFrameDecoder: Sendable {
    private var buffer: ReceiveBuffer
    /// Free room a read asks for: at least one whole frame.
    private static let frameRoom = SessionFrame.headerLength + SessionFrame.maxPayload

    /// Room for at least two whole frames: after `next()` returned nil less than one
    /// waits, so a read always has room for one more.
    public init(capacity: Int = 128 * 1024) {
        buffer = ReceiveBuffer(capacity: max(capacity, 2 * Self.frameRoom))
    }

    public var bufferedByteCount: Int { buffer.count }

    /// Reads once from `stream` straight into the buffer, after what is there; returns
    /// what the read returned (0: the peer closed).
    public mutating func read(from stream: any ByteStream) throws -> Int {
        try buffer.read(from: stream, room: Self.frameRoom)
    }

    /// Adds bytes that arrived some other way.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        buffer.append(bytes)
    }

    /// The next whole frame; nil when more bytes are needed.
    public mutating func next() throws(SessionFrameError) -> SessionFrame? {
        let available = buffer.count
        guard available >= SessionFrame.headerLength else { return nil }
        let bytes = buffer.bytes
        let h = buffer.start
        guard let kind = SessionFrame.Kind(rawValue: bytes[h]) else { throw .unknownKind(bytes[h]) }
        let length = bytes[(h + 4)..<(h + 8)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard length <= SessionFrame.maxPayload else { throw .oversized(length: length) }
        guard available >= SessionFrame.headerLength + Int(length) else { return nil }
        let number = bytes[(h + 8)..<(h + 16)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let payloadStart = h + SessionFrame.headerLength
        let frame = SessionFrame(
            kind: kind, flags: bytes[h + 1], channel: UInt16(bytes[h + 2]) << 8 | UInt16(bytes[h + 3]),
            number: number, payload: bytes[payloadStart..<(payloadStart + Int(length))])
        buffer.consume(SessionFrame.headerLength + Int(length))
        try frame.validate()
        return frame
    }
}

extension SessionFrame {
    func validate() throws(SessionFrameError) {
        switch kind {
        case .hello:
            guard payload.count == SessionHello.payloadLength else {
                throw .malformed("hello of \(payload.count) bytes")
            }
        case .data:
            guard number > 0 else { throw .malformed("data frame numbered 0") }
            if isFin && !payload.isEmpty { throw .malformed("end-of-channel frame with a payload") }
            if !isFin && payload.isEmpty { throw .malformed("empty data frame") }
            if channel == 0 && isFin { throw .malformed("end of the control channel") }
        case .ack, .credit, .ping, .pong:
            guard payload.isEmpty else { throw .malformed("\(kind) frame with a payload") }
        }
    }
}

/// The first frame each way on every connection: which session, and how far the sender
/// has received (so the other side resends from there).
public struct SessionHello: Equatable, Sendable {
    public static let version: UInt16 = 1
    static let payloadLength = 20
    public static let newSession = [UInt8](repeating: 0, count: 16)

    public var version: UInt16
    /// Client: wants to resume. Server: did resume.
    public var resume: Bool
    public var sessionId: [UInt8]
    public var receivedThrough: UInt64

    public init(version: UInt16 = Self.version, resume: Bool, sessionId: [UInt8], receivedThrough: UInt64) {
        precondition(sessionId.count == 16)
        self.version = version
        self.resume = resume
        self.sessionId = sessionId
        self.receivedThrough = receivedThrough
    }

    public var frame: SessionFrame {
        SessionFrame(
            kind: .hello, number: receivedThrough,
            payload: [UInt8(version >> 8), UInt8(version & 0xff), resume ? 1 : 0, 0] + sessionId)
    }

    public init(_ frame: SessionFrame) throws(SessionFrameError) {
        guard frame.kind == .hello, frame.payload.count == Self.payloadLength else {
            throw .malformed("expected a hello, got \(frame.kind)")
        }
        let p = Array(frame.payload)
        version = UInt16(p[0]) << 8 | UInt16(p[1])
        guard p[2] <= 1, p[3] == 0 else { throw .malformed("hello flags \(p[2]) \(p[3])") }
        resume = p[2] == 1
        sessionId = Array(p[4..<20])
        receivedThrough = frame.number
    }
}
