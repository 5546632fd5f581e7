import Sockets
import Sodium

/// The hellos at the start of each connection.
public enum SessionHandshake {
    /// Reads exactly one hello frame and nothing after it (the rest belongs to the
    /// session's reader).
    public static func readHello(from stream: any ByteStream) throws -> SessionHello {
        var bytes: [UInt8] = []
        let total = SessionFrame.headerLength + SessionHello.payloadLength
        while bytes.count < total {
            var chunk = [UInt8](repeating: 0, count: total - bytes.count)
            let n = try stream.read(into: &chunk)
            guard n > 0 else { throw SessionError.cannotResume("the peer closed before its hello") }
            bytes += chunk[0..<n]
            if bytes.count >= SessionFrame.headerLength, bytes[0] != SessionFrame.Kind.hello.rawValue {
                throw SessionFrameError.malformed("the first frame is not a hello")
            }
        }
        var decoder = SessionFrameDecoder()
        decoder.append(bytes[...])
        guard let frame = try decoder.next() else { throw SessionFrameError.malformed("short hello") }
        let hello = try SessionHello(frame)
        guard hello.version == SessionHello.version else {
            throw SessionError.protocolViolation(
                "session version \(hello.version), this side speaks \(SessionHello.version)")
        }
        return hello
    }

    public static func send(_ hello: SessionHello, over stream: any ByteStream) throws {
        try stream.writeAll(hello.frame.encoded)
    }

    /// A fresh random session id (never all zeros, which asks for a new session).
    public static func newSessionId() -> [UInt8] {
        var id = Sodium.randomBytes(16)
        id[0] |= 1
        return id
    }
}
