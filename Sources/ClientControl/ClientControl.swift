import FileSystem
import FoundationEssentials
import Sockets

// What usbp2p-client's CLI and its service say to each other over the service's Unix
// socket: one request, one reply, each a line of JSON, then the connection closes.
// Who may ask is the socket file's business (root, and the `usbp2p` group).

/// A request from the CLI: a subcommand and its arguments, as typed (never --config: the
/// service uses its own).
public struct ServiceRequest: Codable, Equatable, Sendable {
    public var command: String
    public var arguments: [String]

    public init(_ command: String, _ arguments: [String] = []) {
        self.command = command
        self.arguments = arguments
    }
}

/// The service's answer: what the command printed, and its exit status.
public struct ServiceReply: Codable, Equatable, Sendable {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String

    public init(status: Int32, standardOutput: String = "", standardError: String = "") {
        self.status = status
        self.standardOutput = standardOutput
        self.standardError = standardError
    }

    public static func failure(_ message: String, status: Int32 = 1) -> ServiceReply {
        ServiceReply(status: status, standardError: message.hasSuffix("\n") ? message : message + "\n")
    }
}

public enum ServiceChannelError: Error, Equatable, Sendable, CustomStringConvertible {
    case tooLong
    case closed
    case malformed(String)
    case system(SystemError)

    public var description: String {
        switch self {
        case .tooLong: "the message is longer than \(ServiceChannel.maxMessage) bytes"
        case .closed: "the other end closed before a whole message"
        case .malformed(let why): "not a message of the service's protocol: \(why)"
        case .system(let error): "\(error)"
        }
    }
}

/// One JSON line each way over a stream.
public enum ServiceChannel {
    /// A request or reply larger than this is refused (a status of many wishes fits).
    public static let maxMessage = 256 * 1024

    public static func send<T: Encodable>(_ message: T, over stream: any ByteStream) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes = Array(try encoder.encode(message))
        guard bytes.count < maxMessage else { throw ServiceChannelError.tooLong }
        bytes.append(10)
        try stream.writeAll(bytes)
    }

    /// Reads one line (at most `maxMessage` bytes) and decodes it.
    public static func receive<T: Decodable>(_ type: T.Type, from stream: any ByteStream) throws(ServiceChannelError)
        -> T
    {
        var line: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while !line.contains(10) {
            let n: Int
            do { n = try stream.read(into: &buffer) } catch let error as SystemError { throw .system(error) } catch {
                throw .malformed("\(error)")
            }
            guard n > 0 else { throw .closed }
            line += buffer[0..<n]
            guard line.count <= maxMessage else { throw .tooLong }
        }
        let end = line.firstIndex(of: 10)!
        guard end == line.count - 1 else { throw .malformed("bytes after the message") }
        do { return try JSONDecoder().decode(type, from: Data(line[..<end])) } catch {
            throw .malformed("\(error)")
        }
    }
}
