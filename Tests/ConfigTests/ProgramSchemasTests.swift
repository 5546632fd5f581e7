import Foundation
import Testing

@testable import Config

/// The shipped schemas and docs/configuration.md describe the same keys.
@Suite struct ProgramSchemasTests {
    static let docs: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)) ?? ""
    }()

    @Test(
        arguments: [
            "usbp2pd": ServerSchema.schema, "usbp2p-client": ClientSchema.schema, "usbp2p-relay": RelaySchema.schema,
        ].sorted { $0.key < $1.key })
    func everyKeyIsDocumentedWithItsDefault(program: String, schema: ConfigSchema) {
        #expect(!Self.docs.isEmpty, "docs/configuration.md is missing")
        for key in schema.keys {
            #expect(Self.docs.contains("`\(key.name)`"), "\(program): \(key.name) is not in docs/configuration.md")
        }
    }

    @Test func serverDefaultsAreValid() throws {
        let config = ConfigFile(defaultsOf: ServerSchema.schema)
        #expect(config.string("state_directory") == "/var/lib/usbp2p")
        for key in ServerSchema.schema.keys + RelaySchema.schema.keys + ClientSchema.schema.keys {
            #expect(key.check(key.defaultValue) == nil, "\(key.name)")
        }
    }

    @Test func clientStateFollowsXDG() {
        setenv("XDG_STATE_HOME", "/tmp/xdg-state", 1)
        defer { unsetenv("XDG_STATE_HOME") }
        #expect(ClientSchema.schema.key(named: "state_directory")?.defaultValue == .string("/tmp/xdg-state/usbp2p"))
    }
}

extension ProgramSchemasTests {
    func server(_ text: String) throws(ConfigError) -> ConfigFile {
        try ConfigFile(parsing: text, path: "usbp2pd.toml", schema: ServerSchema.schema)
    }

    @Test func accessRulesAreAnArrayOfCheckedRuleLines() throws {
        let config = try server("[access]\ndefault = \"deny\"\nrules = [\"allow * 046d:c52b\", \"deny * port=1-2\"]\n")
        #expect(config.strings("access.rules") == ["allow * 046d:c52b", "deny * port=1-2"])
        #expect(config.string("access.default") == "deny")
        #expect(ConfigFile(defaultsOf: ServerSchema.schema).strings("access.rules").isEmpty)
    }

    @Test func aBadAccessRuleIsRefusedWithItsLineAndNumber() {
        #expect {
            _ = try server("access.rules = [\"allow * *\",\n  \"allow everyone usb\"]\n")
        } throws: { error in
            let text = "\(error)"
            return text.contains("access.rules") && text.contains("rule 2")
        }
        #expect {
            _ = try server("access.rules = [\"allow * *\", 3]\n")
        } throws: { error in "\(error)".contains("item 2 is an integer") }
        #expect {
            _ = try server("access.rules = \"allow * *\"\n")
        } throws: { error in "\(error)".contains("expected an array of strings") }
    }

    @Test func gpioAndPairingKeysAreChecked() {
        for bad in [
            "gpio.led_line = 5000", "gpio.chip = \"gpio chip\"", "pairing.window_seconds = 1", "name = \"a#b\"",
        ] {
            #expect(throws: ConfigError.self, "\(bad)") { _ = try server(bad + "\n") }
        }
    }
}
