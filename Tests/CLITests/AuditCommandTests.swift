import Foundation
import TestSupport
import Testing

/// `usbp2p-client audit` with the real programs on loopback: the server's owner reads its
/// audit log from the laptop; another laptop may not.
@Suite(.serialized) struct AuditCommandTests {
    @Test func theOwnerReadsTheServersAuditLogAndAnotherLaptopIsRefused() throws {
        let home = scratchDirectory()
        let port = try unusedLoopbackPort()
        let config = serverConfig(home, port: port)
        let owner = clientConfig(home)
        let otherHome = scratchDirectory()
        let other = clientConfig(otherHome)
        let ownerId = try endpointId(.client, config: owner, home: home)
        let otherId = try endpointId(.client, config: other, home: home)
        for (laptop, name) in [(ownerId, "owner laptop"), (otherId, "other laptop")] {
            let added = try Executable.server.run(["allow", "--config", config, laptop, name], home: home)
            #expect(added.status == 0, "\(added.stderr)")
        }
        let server = try Executable.server.launch(["serve", "--config", config], home: home)
        defer { server.stop() }
        #expect(server.waitForStandardError(containing: "ready: serving as"), "\(server.output.current.standardError)")
        let address = "\(try endpointId(.server, config: config, home: home))@127.0.0.1:\(port)"

        let read = try Executable.client.run(["audit", "--config", owner, address, "--since", "1h"], home: home)
        #expect(read.status == 0, "\(read.stderr)")
        #expect(read.stdout.contains("  service-started"), "\(read.stdout)")
        #expect(read.stdout.contains("  session-opened  owner laptop ("), "\(read.stdout)")

        let json = try Executable.client.run(["audit", "--config", owner, address, "--json"], home: home)
        #expect(json.status == 0, "\(json.stderr)")
        let lines = json.stdout.split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["event"] is String && object?["time"] is String, "\(line)")
        }

        let refused = try Executable.client.run(["audit", "--config", other, address], home: otherHome)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("only the server's owner may read its audit log"), "\(refused.stderr)")
    }

    @Test func aSinceThatIsNeitherATimeNorAnAgeIsRefusedBeforeAnyConnection() throws {
        let home = scratchDirectory()
        let owner = clientConfig(home)
        for since in ["yesterday", "", "30 minutes", String(repeating: "1", count: 80) + "s"] {
            let run = try Executable.client.run(
                ["audit", "--config", owner, "aaaa@127.0.0.1:9", "--since", since], home: home)
            #expect(run.status != 0)
            #expect(run.stderr.contains("--since"), "\(since): \(run.stderr)")
        }
    }
}
