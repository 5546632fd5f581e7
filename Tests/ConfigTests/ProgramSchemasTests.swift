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
