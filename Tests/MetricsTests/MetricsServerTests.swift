import Log
import Sockets
import Testing

@testable import Metrics

@Suite struct MetricsServerTests {
    func get(_ request: String, from server: MetricsServer) throws -> String {
        let socket = try TCP.connect(to: server.endpoint, timeoutSeconds: 5)
        defer { socket.close() }
        socket.setReceiveTimeout(seconds: 5)
        try socket.writeAll(Array(request.utf8))
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while let n = try? socket.read(into: &buffer), n > 0 { reply += buffer[0..<n] }
        return String(decoding: reply, as: UTF8.self)
    }

    @Test func getMetricsAnswersWithTheTextFormatAndOtherRequestsAreRefused() throws {
        let server = try MetricsServer(
            endpoint: Endpoint(host: "127.0.0.1", port: 0), logger: Logger(label: "test", level: .critical)
        ) { [Metric("usbp2p_up", .gauge, "Up.", value: 1)] }
        server.start()
        defer { server.stop() }
        let ok = try get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", from: server)
        #expect(ok.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(ok.contains("Content-Type: text/plain; version=0.0.4"))
        #expect(ok.hasSuffix("\r\n\r\n# HELP usbp2p_up Up.\n# TYPE usbp2p_up gauge\nusbp2p_up 1\n"))
        #expect(try get("GET / HTTP/1.1\r\n\r\n", from: server).hasPrefix("HTTP/1.1 404"))
        #expect(try get("POST /metrics HTTP/1.1\r\n\r\n", from: server).hasPrefix("HTTP/1.1 405"))
        #expect(try get("garbage\r\n\r\n", from: server).hasPrefix("HTTP/1.1 400"))
        let huge = "GET /metrics HTTP/1.1\r\nX: " + String(repeating: "a", count: 9000)
        #expect(try get(huge, from: server).hasPrefix("HTTP/1.1 431"))
    }
}
