import Log
import OSThreads
import Sockets

/// Serves `GET /metrics` in the Prometheus text format over plain HTTP/1.1, one request
/// per connection, from a thread of its own. Meant for loopback (a local scraper or
/// node_exporter's textfile replacement); it tells nothing secret but the numbers.
public final class MetricsServer: @unchecked Sendable {
    private let listener: TCP.Listener
    private let collect: @Sendable () -> [Metric]
    private let logger: Logger
    public var endpoint: Endpoint { listener.endpoint }

    /// Requests larger than this are refused (a GET is a few hundred bytes).
    static let maxRequest = 8192

    public init(endpoint: Endpoint, logger: Logger, collect: @escaping @Sendable () -> [Metric]) throws {
        listener = try TCP.Listener(endpoint: endpoint)
        self.collect = collect
        self.logger = logger
    }

    public func start() {
        logger.info("metrics on http://\(listener.endpoint)/metrics")
        do {
            try OSThread.detach(name: "metrics") { [self] in
                AcceptLoop.run(
                    accept: listener.accept, failing: { logger.warning("metrics: accept: \($0); trying again") },
                    // One at a time: a scrape is small, and a slow client only delays the next.
                    serve: answer)
            }
        } catch {
            logger.warning("metrics: not served: \(error)")
        }
    }

    public func stop() { listener.socket.shutdown() }

    private func answer(_ socket: Socket) {
        defer { socket.close() }
        socket.setReceiveTimeout(seconds: 5)
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while !Self.headerEnds(request) {
            guard let n = try? socket.read(into: &buffer), n > 0 else { return }
            request += buffer[0..<n]
            guard request.count <= Self.maxRequest else {
                try? socket.writeAll(Self.response(status: "431 Request Header Fields Too Large", body: "too large\n"))
                return
            }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            try? socket.writeAll(Self.response(status: "400 Bad Request", body: "expected GET /metrics\n"))
            return
        }
        guard parts[0] == "GET" || parts[0] == "HEAD" else {
            try? socket.writeAll(Self.response(status: "405 Method Not Allowed", body: "only GET\n"))
            return
        }
        guard parts[1] == "/metrics" || parts[1].hasPrefix("/metrics?") else {
            try? socket.writeAll(Self.response(status: "404 Not Found", body: "see /metrics\n"))
            return
        }
        let body = PrometheusText.render(collect())
        try? socket.writeAll(
            Self.response(
                status: "200 OK", body: parts[0] == "HEAD" ? "" : body, contentType: PrometheusText.contentType))
    }

    static func headerEnds(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && (0...(bytes.count - 4)).contains { bytes[$0..<($0 + 4)].elementsEqual([13, 10, 13, 10]) }
    }

    static func response(status: String, body: String, contentType: String = "text/plain; charset=utf-8") -> [UInt8] {
        Array(
            ("HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\n"
                + "Connection: close\r\n\r\n\(body)").utf8)
    }
}
