import Log
import OSThreads
import Sockets

/// A request as `HTTPServer` hands it on: GET or HEAD of a path, from an address.
public struct HTTPRequest: Sendable {
    public let method: String
    /// The path without its query ("/status.json").
    public let path: String
    /// The client's address (no port).
    public let source: String
}

public struct HTTPResponse: Sendable {
    public let status: String
    public let contentType: String
    public let body: String

    public init(status: String = "200 OK", contentType: String = "text/plain; charset=utf-8", body: String) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    public static func notFound(_ hint: String) -> HTTPResponse { HTTPResponse(status: "404 Not Found", body: hint) }
}

/// Plain HTTP/1.1 for small read-only pages (the metrics, the appliance's status page):
/// GET and HEAD, one request per connection, answered one connection at a time on the
/// accept thread. A request has `requestSeconds` in all, however it trickles in, and
/// `maxRequest` bytes; a source `admits` refuses is closed unanswered. Anyone who can
/// reach the port can keep it busy (one slow request after another), which delays only
/// these pages.
public final class HTTPServer: Sendable {
    private let listener: TCP.Listener
    private let name: String
    private let logger: Logger
    private let admits: @Sendable (String) -> Bool
    private let handle: @Sendable (HTTPRequest) -> HTTPResponse
    private let deadlines: Deadlines
    private let noisy = LogRateLimit(clock: monotonicSeconds)
    public var endpoint: Endpoint { listener.endpoint }

    /// Requests larger than this are refused (a GET is a few hundred bytes).
    static let maxRequest = 8192
    static let requestSeconds = 2.0

    public init(
        endpoint: Endpoint, name: String, logger: Logger, admits: @escaping @Sendable (String) -> Bool = { _ in true },
        handle: @escaping @Sendable (HTTPRequest) -> HTTPResponse
    ) throws {
        listener = try TCP.Listener(endpoint: endpoint)
        deadlines = try Deadlines(name: "\(name)-deadline")
        self.name = name
        self.logger = logger
        self.admits = admits
        self.handle = handle
    }

    public func start() {
        do {
            try OSThread.detach(name: name) { [self] in
                AcceptLoop.run(
                    accept: listener.accept, failing: { logger.warning("\(name): accept: \($0); trying again") },
                    serve: answer)
            }
        } catch {
            logger.warning("\(name): not served: \(error)")
        }
    }

    public func stop() { listener.socket.shutdown() }

    private func answer(_ socket: Socket) {
        defer { socket.close() }
        let source = Endpoint(parsing: socket.peer, defaultPort: 0)?.host ?? socket.peer
        guard admits(source) else {
            noisy.log(logger, .info, kind: "refused", "\(name): \(source) is not on a local network; not answered")
            return
        }
        let deadline = deadlines.schedule(after: Self.requestSeconds) { socket.shutdown() }
        defer { deadlines.cancel(deadline) }
        socket.setReceiveTimeout(seconds: Int(Self.requestSeconds) + 1)
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while !Self.headerEnds(request) {
            guard let n = try? socket.read(into: &buffer), n > 0 else { return }
            request += buffer[0..<n]
            guard request.count <= Self.maxRequest else {
                try? socket.writeAll(
                    Self.response(HTTPResponse(status: "431 Request Header Fields Too Large", body: "too large\n")))
                return
            }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1."), parts[1].hasPrefix("/") else {
            try? socket.writeAll(Self.response(HTTPResponse(status: "400 Bad Request", body: "expected GET /path\n")))
            return
        }
        guard parts[0] == "GET" || parts[0] == "HEAD" else {
            try? socket.writeAll(Self.response(HTTPResponse(status: "405 Method Not Allowed", body: "only GET\n")))
            return
        }
        let path = String(parts[1].prefix { $0 != "?" })
        let response = handle(HTTPRequest(method: String(parts[0]), path: path, source: source))
        try? socket.writeAll(Self.response(response, bodyless: parts[0] == "HEAD"))
    }

    static func headerEnds(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && (0...(bytes.count - 4)).contains { bytes[$0..<($0 + 4)].elementsEqual([13, 10, 13, 10]) }
    }

    static func response(_ response: HTTPResponse, bodyless: Bool = false) -> [UInt8] {
        Array(
            ("HTTP/1.1 \(response.status)\r\nContent-Type: \(response.contentType)\r\n"
                + "Content-Length: \(response.body.utf8.count)\r\nCache-Control: no-store\r\n"
                + "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n\(bodyless ? "" : response.body)").utf8)
    }
}
