import Foundation
import TestSupport
import Testing

/// `usbp2pd allow` with the real programs on loopback: a change reaches a running service.
@Suite(.serialized) struct AllowCommandTests {
    @Test func aClientRemovedFromTheAllowlistLosesItsSessionAndIsRefusedAfterwards() throws {
        let home = scratchDirectory()
        let port = try unusedLoopbackPort()
        let config = serverConfig(home, port: port)
        let client = clientConfig(home)
        let clientId = try endpointId(.client, config: client, home: home)
        let added = try Executable.server.run(["allow", "--config", config, clientId, "bench laptop"], home: home)
        #expect(added.status == 0, "\(added.stderr)")

        let server = try Executable.server.launch(["serve", "--config", config], home: home)
        defer { server.stop() }
        #expect(server.waitForStandardError(containing: "ready: serving as"), "\(server.output.current.standardError)")
        let serverId = try endpointId(.server, config: config, home: home)
        // A foreground attach keeps a session open, waiting for devices (this server has none).
        let attach = try Executable.client.launch(
            ["attach", "--config", client, "--including-new", "\(serverId)@127.0.0.1:\(port)"], home: home)
        defer { attach.stop() }
        #expect(
            server.waitForStandardError(containing: "session with \(clientId) started"),
            "\(server.output.current.standardError)")

        let removed = try Executable.server.run(["allow", "--remove", "--config", config, clientId], home: home)
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(removed.stdout.contains("ends within a second"))
        #expect(
            server.waitForStandardError(containing: "ended: this client was removed from the server's allowlist"),
            "\(server.output.current.standardError)")
        #expect(
            attach.waitForStandardError(containing: "removed from the server's allowlist"),
            "\(attach.output.current.standardError)")
        // Its attempts to come back are refused in the handshake.
        #expect(
            server.waitForStandardError(containing: "\(clientId) is not on the allowlist"),
            "\(server.output.current.standardError)")
    }
}
