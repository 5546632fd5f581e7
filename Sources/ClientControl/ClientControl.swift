import FileSystem
import Foundation
import Sockets

// What usbp2p-client's CLI and its service say to each other over the service's Unix
// socket: one request, one reply, each a line of JSON, then the connection closes.
// Who may ask is the socket file's business (root, and the `usbp2p` group).

/// A request from the CLI.
public struct ServiceRequest: Codable, Equatable, Sendable {
    public enum Command: String, Codable, Sendable {
        case pair, peers, forget, list, attach, detach, status
    }

    public var command: Command
    /// The server named (a peer's name, the start of its EndpointId), or nil for the only one.
    public var server: String?
    /// attach and detach: devices by bus id, VID:PID or part of the name.
    public var devices: [String]
    /// attach: new devices of the server too.
    public var includingNew: Bool
    /// detach: every wish.
    public var all: Bool
    /// pair: the code, the name to go by, an address.
    public var code: String?
    public var name: String?
    public var address: String?

    public init(
        _ command: Command, server: String? = nil, devices: [String] = [], includingNew: Bool = false,
        all: Bool = false, code: String? = nil, name: String? = nil, address: String? = nil
    ) {
        self.command = command
        self.server = server
        self.devices = devices
        self.includingNew = includingNew
        self.all = all
        self.code = code
        self.name = name
        self.address = address
    }
}

/// The service's answer: lines for a person, and the same as JSON for `--json`.
public struct ServiceReply: Codable, Equatable, Sendable {
    public var ok: Bool
    public var lines: [String]
    /// A JSON document (as text) for the CLI's `--json`, where the command has one.
    public var json: String?

    public init(ok: Bool, lines: [String], json: String? = nil) {
        self.ok = ok
        self.lines = lines
        self.json = json
    }

    public static func failure(_ message: String) -> ServiceReply { ServiceReply(ok: false, lines: [message]) }
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
