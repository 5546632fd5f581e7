import Log
import Sockets
import Testing

@testable import Metrics

@Suite struct HTTPServerTests {
    func server(admits: @escaping @Sendable (String) -> Bool = { _ in true }) throws -> HTTPServer {
        let server = try HTTPServer(
            endpoint: Endpoint(host: "127.0.0.1", port: 0), name: "test-page",
            logger: Logger(label: "test", level: .critical), admits: admits
        ) { request in
            HTTPResponse(contentType: "text/html; charset=utf-8", body: "<p>\(request.path) from \(request.source)</p>")
        }
        server.start()
        return server
    }

    func exchange(_ request: String, with server: HTTPServer) throws -> String {
        let socket = try TCP.connect(to: server.endpoint, timeoutSeconds: 5)
        defer { socket.close() }
        socket.setReceiveTimeout(seconds: 10)
        try socket.writeAll(Array(request.utf8))
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while let n = try? socket.read(into: &buffer), n > 0 { reply += buffer[0..<n] }
        return String(decoding: reply, as: UTF8.self)
    }

    @Test func aPathIsAnsweredWithoutItsQueryAndHeadHasNoBody() throws {
        let server = try server()
        defer { server.stop() }
        let page = try exchange("GET /status?x=1 HTTP/1.1\r\n\r\n", with: server)
        #expect(page.hasPrefix("HTTP/1.1 200 OK\r\n") && page.hasSuffix("\r\n\r\n<p>/status from 127.0.0.1</p>"))
        #expect(page.contains("Cache-Control: no-store\r\n") && page.contains("X-Content-Type-Options: nosniff\r\n"))
        let head = try exchange("HEAD / HTTP/1.1\r\n\r\n", with: server)
        #expect(head.hasSuffix("\r\n\r\n") && head.contains("Content-Length: 23\r\n"))
        #expect(try exchange("GET noslash HTTP/1.1\r\n\r\n", with: server).hasPrefix("HTTP/1.1 400"))
    }

    @Test func aSourceItDoesNotAdmitIsClosedUnanswered() throws {
        let server = try server(admits: { _ in false })
        defer { server.stop() }
        #expect(try exchange("GET / HTTP/1.1\r\n\r\n", with: server) == "")
    }

    @Test func aRequestThatTricklesPastItsDeadlineIsCutAndTheNextIsServed() throws {
        let server = try server()
        defer { server.stop() }
        // Half a request, then nothing: the server cuts it when its time is up.
        let slow = try TCP.connect(to: server.endpoint, timeoutSeconds: 5)
        defer { slow.close() }
        slow.setReceiveTimeout(seconds: 30)
        try slow.writeAll(Array("GET / HTTP/1.1\r\n".utf8))
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect((try? slow.read(into: &buffer)) ?? 0 == 0)
        #expect(try exchange("GET / HTTP/1.1\r\n\r\n", with: server).hasPrefix("HTTP/1.1 200 OK"))
    }
}
