import Testing

@testable import Sockets

@Suite struct EndpointTests {
    @Test(arguments: [
        ("127.0.0.1", "127.0.0.1", 3240), ("127.0.0.1:4000", "127.0.0.1", 4000), ("[::1]", "::1", 3240),
        ("[::1]:9", "::1", 9), ("198.18.0.2:3240", "198.18.0.2", 3240),
    ])
    func parsesHostAndPort(text: String, host: String, port: Int) throws {
        let endpoint = try #require(Endpoint(parsing: text, defaultPort: 3240))
        #expect(endpoint.host == host)
        #expect(Int(endpoint.port) == port)
    }

    @Test(arguments: ["", ":80", "host:0", "host:65536", "host:x", "[::1", "[::1]x", "a b:1"])
    func rejectsMalformedText(text: String) {
        #expect(Endpoint(parsing: text, defaultPort: 3240) == nil)
    }

    @Test func bareIPv6IsAHostWithTheDefaultPort() {
        // Without brackets no colon can start a port: the whole text is the address.
        #expect(Endpoint(parsing: "::1", defaultPort: 3240) == Endpoint(host: "::1", port: 3240))
    }

    @Test func describesIPv6InBrackets() {
        #expect(Endpoint(host: "::1", port: 3240).description == "[::1]:3240")
        #expect(Endpoint(host: "10.0.0.1", port: 1).description == "10.0.0.1:1")
    }

    @Test func listenerOnPortZeroGetsAPortAndAcceptsAConnection() throws {
        let listener = try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: 0))
        #expect(listener.endpoint.port != 0)
        let client = try TCP.connect(to: listener.endpoint)
        let server = try listener.accept()
        try client.writeAll([1, 2, 3])
        var buffer = [UInt8](repeating: 0, count: 8)
        #expect(try server.read(into: &buffer) == 3)
        #expect(Array(buffer[0..<3]) == [1, 2, 3])
        client.close()
        #expect(try server.read(into: &buffer) == 0)
    }

    @Test func connectingToAClosedPortSaysRefused() throws {
        let listener = try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: 0))
        let port = listener.endpoint.port
        listener.socket.close()
        do {
            _ = try TCP.connect(to: Endpoint(host: "127.0.0.1", port: port))
            Issue.record("connected to a closed port")
        } catch {
            #expect(error.description.contains("Connection refused"))
        }
    }

    @Test func onlyLoopbackAddressesCountAsThisMachineOnly() {
        for host in ["127.0.0.1", "127.1.2.3", "::1"] {
            #expect(Endpoint(host: host, port: 3240).isLoopback, "\(host)")
        }
        for host in ["0.0.0.0", "192.168.1.5", "::", "::10", "10.127.0.1"] {
            #expect(!Endpoint(host: host, port: 3240).isLoopback, "\(host)")
        }
    }
}
