import Testing

@testable import Config

@Suite struct ConfigFileTests {
    static let schema = ConfigSchema([
        ConfigKey("log_level", .string, default: .string("info"), "level", check: ConfigChecks.logLevel),
        ConfigKey("state_directory", .string, default: .string("/var/lib/x"), "dir", check: ConfigChecks.absolutePath),
        ConfigKey("usbip.port", .integer, default: .integer(3240), "port") { value in
            guard case .integer(let p) = value, (1...65535).contains(p) else { return "expected a port 1...65535" }
            return nil
        },
        ConfigKey("usbip.enabled", .boolean, default: .boolean(false), "on"),
    ])

    func parse(_ text: String) throws(ConfigError) -> ConfigFile {
        try ConfigFile(parsing: text, path: "test.toml", schema: Self.schema)
    }

    @Test func unsetKeysTakeTheirDefaults() throws {
        let config = try parse("")
        #expect(config.string("log_level") == "info")
        #expect(config.integer("usbip.port") == 3240)
        #expect(config.explicitKeys.isEmpty)
    }

    @Test func setKeysOverrideDefaults() throws {
        let config = try parse(
            """
            log_level = "debug"
            [usbip]
            port = 4000
            enabled = true
            """)
        #expect(config.string("log_level") == "debug")
        #expect(config.integer("usbip.port") == 4000)
        #expect(config.boolean("usbip.enabled"))
        #expect(config.explicitKeys == ["log_level", "usbip.port", "usbip.enabled"])
    }

    @Test func dottedKeysWorkLikeTables() throws {
        #expect(try parse("usbip.port = 5\n").integer("usbip.port") == 5)
    }

    @Test func unknownKeyNamesFileLineAndKeyWithASuggestion() {
        #expect(
            throws: ConfigError(
                file: "test.toml", line: 3, key: "usbip.prot", reason: "unknown key (did you mean 'usbip.port'?)")
        ) {
            try parse("log_level = \"info\"\n[usbip]\nprot = 1\n")
        }
    }

    @Test func unknownTableIsAnUnknownKey() {
        #expect(throws: ConfigError(file: "test.toml", line: 1, key: "relay", reason: "unknown key")) {
            try parse("[relay]\nurl = \"x\"\n")
        }
    }

    @Test func wrongTypeSaysWhatWasExpected() {
        #expect(
            throws: ConfigError(
                file: "test.toml", line: 2, key: "usbip.port", reason: "expected an integer, found a string")
        ) {
            try parse("[usbip]\nport = \"3240\"\n")
        }
    }

    @Test func badValueGivesTheKeysOwnReason() {
        #expect(throws: ConfigError(file: "test.toml", line: 2, key: "usbip.port", reason: "expected a port 1...65535"))
        {
            try parse("[usbip]\nport = 70000\n")
        }
        #expect(
            throws: ConfigError(
                file: "test.toml", line: 1, key: "state_directory",
                reason: "expected an absolute path (got \"relative\")")
        ) {
            try parse("state_directory = \"relative\"\n")
        }
    }

    @Test func syntaxErrorGivesItsLine() {
        do {
            _ = try parse("log_level = \"info\"\n\nport = = 3\n")
            Issue.record("parsed invalid TOML")
        } catch {
            #expect(error.line == 3)
            #expect(error.reason.hasPrefix("not valid TOML"))
            #expect(error.description.hasPrefix("test.toml:3: not valid TOML"))
        }
    }

    @Test func duplicateKeyIsASyntaxError() {
        #expect(throws: ConfigError.self) { try parse("log_level = \"info\"\nlog_level = \"debug\"\n") }
    }

    @Test func missingRequiredFileIsAnErrorButAMissingDefaultFileIsNot() throws {
        #expect(throws: ConfigError.self) {
            try ConfigFile.load(path: "/nonexistent/usbp2p.toml", schema: Self.schema, required: true)
        }
        let config = try ConfigFile.load(path: "/nonexistent/usbp2p.toml", schema: Self.schema, required: false)
        #expect(config.path == "(defaults)")
    }

    @Test func editDistanceCountsEdits() {
        #expect(editDistance("port", "prot") == 2)
        #expect(editDistance("", "abc") == 3)
        #expect(editDistance("log_level", "log_level") == 0)
    }
}
