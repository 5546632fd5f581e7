import Foundation
import TestSupport
import Testing

@Suite struct IdentityCommandTests {
    @Test func serverIdentityTwicePrintsTheSameEndpointId() throws {
        let home = scratchDirectory()
        write("state_directory = \"\(home)/state\"\n", to: home + "/usbp2pd.toml")
        let first = try Executable.server.run(["identity", "--config", home + "/usbp2pd.toml"], home: home)
        let second = try Executable.server.run(["identity", "--config", home + "/usbp2pd.toml"], home: home)
        #expect(first.status == 0 && second.status == 0, "\(first.stderr)\(second.stderr)")
        #expect(first.stdout == second.stdout)
        #expect(first.stdout.trimmingCharacters(in: .newlines).count == 56)
        #expect(first.stderr.contains("created a new identity"))
        #expect(!second.stderr.contains("created"))
    }

    @Test func clientKeepsItsKeyInTheXDGStateDirectory() throws {
        let home = scratchDirectory()
        let result = try Executable.client.run(["identity", "show"], home: home)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: home + "/state/usbp2p/identity.key"))
    }

    @Test func checkAcceptsAWellFormedEndpointId() throws {
        let home = scratchDirectory()
        let id = try Executable.client.run(["identity"], home: home).stdout.trimmingCharacters(in: .newlines)
        let result = try Executable.client.run(["identity", "check", id], home: home)
        #expect(result.status == 0)
        #expect(result.stdout == "ok: \(id)\n")
    }

    @Test func mistypedEndpointIdIsRejectedWithAMessageThatSaysSo() throws {
        let home = scratchDirectory()
        var id = Array(try Executable.client.run(["identity"], home: home).stdout.trimmingCharacters(in: .newlines))
        id[20] = id[20] == "a" ? "b" : "a"
        let result = try Executable.client.run(["identity", "check", String(id)], home: home)
        #expect(result.status == 1)
        #expect(result.stderr.contains("checksum does not match, so it was probably mistyped"))
    }

    @Test func truncatedEndpointIdSaysHowLongItIs() throws {
        let result = try Executable.server.run(["identity", "check", "abcdef"], home: scratchDirectory())
        #expect(result.status == 1)
        #expect(result.stderr.contains("it has 6 characters, an EndpointId has 56"))
    }

    @Test func keyReadableByOthersStopsTheCommand() throws {
        let home = scratchDirectory()
        write("state_directory = \"\(home)/state\"\n", to: home + "/d.toml")
        _ = try Executable.server.run(["identity", "--config", home + "/d.toml"], home: home)
        chmod(home + "/state/identity.key", 0o644)
        let result = try Executable.server.run(["identity", "--config", home + "/d.toml"], home: home)
        #expect(result.status == 1)
        #expect(result.stderr.contains("chmod 600"))
        #expect(result.stdout.isEmpty)
    }
}
