import Foundation
import TestSupport
import Testing

@Suite struct ConfigCheckCommandTests {
    @Test func validFilePrintsTheSettingsAndMarksDefaults() throws {
        let home = scratchDirectory()
        write("log_level = \"debug\"\n", to: home + "/d.toml")
        let result = try Executable.server.run(["config", "check", "--config", home + "/d.toml"], home: home)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("log_level = \"debug\"\n"))
        #expect(result.stdout.contains("state_directory = \"/var/lib/usbp2p\"  (default)"))
    }

    @Test(arguments: [
        ("log_level = \"loud\"\n", ":1: log_level: expected one of trace"),
        ("\n\nstate_directry = \"/x\"\n", ":3: state_directry: unknown key (did you mean 'state_directory'?)"),
        ("state_directory = 5\n", ":1: state_directory: expected a string, found an integer"),
        ("state_directory = \"relative/path\"\n", ":1: state_directory: expected an absolute path"),
        ("log_level = \n", ":1: not valid TOML"),
    ])
    func badFileNamesFileLineAndKeyAndExitsNonZero(content: String, message: String) throws {
        let home = scratchDirectory()
        write(content, to: home + "/bad.toml")
        let result = try Executable.server.run(["config", "check", "--config", home + "/bad.toml"], home: home)
        #expect(result.status == 1)
        #expect(result.stderr.contains(home + "/bad.toml" + message), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func badConfigStopsOtherCommandsBeforeTheyDoAnything() throws {
        let home = scratchDirectory()
        write("state_directory = \"\(home)/state\"\nlog_level = 1\n", to: home + "/bad.toml")
        let result = try Executable.server.run(["identity", "--config", home + "/bad.toml"], home: home)
        #expect(result.status == 1)
        #expect(!FileManager.default.fileExists(atPath: home + "/state"))
    }

    @Test func missingNamedFileIsAnError() throws {
        let result = try Executable.client.run(
            ["config", "check", "--config", "/nonexistent.toml"], home: scratchDirectory())
        #expect(result.status == 1)
        #expect(result.stderr.contains("/nonexistent.toml: cannot read it"))
    }

    @Test func missingDefaultFileMeansDefaults() throws {
        let home = scratchDirectory()
        let result = try Executable.client.run(["config", "check"], home: home)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("ok: (defaults)"))
        #expect(result.stdout.contains("state_directory = \"\(home)/state/usbp2p\"  (default)"))
    }
}
