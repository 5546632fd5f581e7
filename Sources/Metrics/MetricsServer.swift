import Log
import Sockets

/// Serves `GET /metrics` in the Prometheus text format (`HTTPServer`). Meant for loopback
/// (a local scraper or node_exporter's textfile replacement); it tells nothing secret but
/// the numbers.
public final class MetricsServer: Sendable {
    private let server: HTTPServer
    private let logger: Logger
    public var endpoint: Endpoint { server.endpoint }

    public init(endpoint: Endpoint, logger: Logger, collect: @escaping @Sendable () -> [Metric]) throws {
        self.logger = logger
        server = try HTTPServer(endpoint: endpoint, name: "metrics", logger: logger) { request in
            guard request.path == "/metrics" else { return .notFound("see /metrics\n") }
            return HTTPResponse(contentType: PrometheusText.contentType, body: PrometheusText.render(collect()))
        }
    }

    public func start() {
        logger.info("metrics on http://\(server.endpoint)/metrics")
        server.start()
    }

    public func stop() { server.stop() }
}
