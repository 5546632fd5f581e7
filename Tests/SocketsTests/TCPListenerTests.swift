import FileSystem
import Sockets
import Testing

@Suite struct SharedListenerTests {
    @Test func aSharedListenerLetsConnectionsLeaveFromItsPortButRefusesASecondListener() throws {
        let first = try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: 0), sharedPort: true)
        let target = try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: 0))
        let leaving = try TCP.connect(to: target.endpoint, localPort: first.endpoint.port)
        #expect(TCP.localEndpoint(of: leaving)?.port == first.endpoint.port)
        #expect(throws: SystemError.self) {
            _ = try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: first.endpoint.port), sharedPort: true)
        }
    }
}
