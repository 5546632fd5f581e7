import Foundation
import Sockets
import TestSupport
import Testing

/// The appliance's status page, served by a running usbp2pd on loopback.
@Suite(.serialized) struct StatusPageTests {
    func get(_ path: String, port: Int) throws -> String {
        let socket = try TCP.connect(to: Endpoint(host: "127.0.0.1", port: UInt16(port)), timeoutSeconds: 5)
        defer { socket.close() }
        socket.setReceiveTimeout(seconds: 10)
        try socket.writeAll(Array("GET \(path) HTTP/1.1\r\nHost: pi\r\n\r\n".utf8))
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while let n = try? socket.read(into: &buffer), n > 0 { reply += buffer[0..<n] }
        return String(decoding: reply, as: UTF8.self)
    }

    @Test func thePageAndItsJSONShowTheApplianceThePairedLaptopAndNoSecret() throws {
        let home = scratchDirectory()
        let config = serverConfig(home, port: try unusedLoopbackPort())
        let statusPort = try unusedLoopbackPort()
        write(
            try String(contentsOfFile: config, encoding: .utf8) + "status.listen = \"127.0.0.1:\(statusPort)\"\n",
            to: config)
        let laptop = "wchcja6nvirlbzbd3jexbbeecktpqj75pi6wxb3dqaosx466cuamtwrc"
        #expect(
            try Executable.server.run(["allow", "--config", config, laptop, "Anna's laptop"], home: home).status == 0)
        let server = try Executable.server.launch(["serve", "--config", config], home: home)
        defer { server.stop() }
        #expect(server.waitForStandardError(containing: "status page on http://127.0.0.1:\(statusPort)/"))
        let secret = try String(contentsOfFile: home + "/pi/pairing.secret", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)

        let page = try get("/", port: statusPort)
        #expect(page.hasPrefix("HTTP/1.1 200 OK\r\n") && page.contains("Content-Type: text/html"), "\(page)")
        #expect(page.contains("<h1>Bench Pi</h1>") && page.contains("Anna&#39;s laptop"), "\(page)")
        #expect(page.contains("(owner)") && page.contains("No USB device is plugged in"), "\(page)")
        let json = try get("/status.json", port: statusPort)
        let body = try #require(json.components(separatedBy: "\r\n\r\n").last)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(report["name"] as? String == "Bench Pi")
        #expect((report["laptops"] as? [[String: Any]])?.first?["owner"] as? Bool == true)
        #expect(!secret.isEmpty && !page.contains(secret) && !json.contains(secret))
        #expect(try get("/pairing.secret", port: statusPort).hasPrefix("HTTP/1.1 404"))
    }
}
