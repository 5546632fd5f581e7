import Foundation
import TestSupport
import Testing

/// `usbp2pd settings apply` and the service with the card's settings, on loopback: the
/// boot partition's file is applied, a mistake keeps the last good settings and shows.
@Suite(.serialized) struct SettingsCommandTests {
    let id = "wchcja6nvirlbzbd3jexbbeecktpqj75pi6wxb3dqaosx466cuamtwrc"

    /// The server's configuration, reading the card's settings from `run`.
    func setUp() throws -> (home: String, config: String, boot: String, run: String, port: Int) {
        let home = scratchDirectory()
        let port = try unusedLoopbackPort()
        let config = serverConfig(home, port: port)
        let run = home + "/run"
        let text = try String(contentsOfFile: config, encoding: .utf8) + "settings_file = \"\(run)/settings.toml\"\n"
        write(text, to: config)
        return (home, config, home + "/usbp2p.toml", run, port)
    }

    @Test func goodSettingsReachTheServiceAndTheWiFiConfiguration() throws {
        let (home, config, boot, run, _) = try setUp()
        write(
            """
            name = "Living \\"room\\""
            relay.address = "192.0.2.7:443"
            relay.id = "\(id)"
            sharing.new_devices = "shared"
            access.rules = ["deny * 046d:*"]

            [wifi]
            ssid = "home \\"net\\""
            passphrase = "correct horse battery"
            country = "DE"

            """, to: boot)
        let applied = try Executable.server.run(
            ["settings", "apply", "--config", config, "--boot", boot, "--out", run], home: home)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout.contains("Wi-Fi: \"home \"net\"\" (country DE)"), "\(applied.stdout)")
        let service = try String(contentsOfFile: run + "/settings.toml", encoding: .utf8)
        #expect(!service.contains("correct horse"), "the Wi-Fi passphrase reached the service's file")
        let wifi = try String(contentsOfFile: run + "/wpa_supplicant-wlan0.conf", encoding: .utf8)
        // The SSID in hex, the key derived (wpa_passphrase's PBKDF2), nothing quoted.
        #expect(wifi.contains("ssid=686f6d6520226e657422\n") && wifi.contains("country=DE\n"), "\(wifi)")
        #expect(wifi.range(of: "psk=[0-9a-f]{64}\n", options: .regularExpression) != nil, "\(wifi)")
        #expect(!FileManager.default.fileExists(atPath: run + "/settings.error"))
        // The label the service prints carries the card's name and relay.
        let code = try Executable.server.run(["pairing-code", "--config", config, "--text-only"], home: home)
        #expect(code.status == 0, "\(code.stderr)")
        #expect(code.stdout.contains("relay=192.0.2.7"), "\(code.stdout)")
        let checked = try Executable.server.run(["config", "check", "--config", config], home: home)
        #expect(checked.status == 0, "\(checked.stderr)")
    }

    @Test func aMistakeKeepsTheLastGoodSettingsAndTheServiceShowsIt() throws {
        let (home, config, boot, run, _) = try setUp()
        write("name = \"Hall\"\nsharing.new_devices = \"shared\"\n", to: boot)
        let good = try Executable.server.run(
            ["settings", "apply", "--config", config, "--boot", boot, "--out", run], home: home)
        #expect(good.status == 0, "\(good.stderr)")
        write("name = \"Garage\"\nsharing.new_devices = \"sometimes\"\n", to: boot)
        let refused = try Executable.server.run(
            ["settings", "apply", "--config", config, "--boot", boot, "--out", run], home: home)
        #expect(refused.status == 0, "a refused file must not stop the boot: \(refused.stderr)")
        #expect(refused.stdout.contains("usbp2p.toml:2: sharing.new_devices: expected"), "\(refused.stdout)")
        #expect(refused.stdout.contains("name = \"Hall\""), "\(refused.stdout)")
        let service = try String(contentsOfFile: run + "/settings.toml", encoding: .utf8)
        #expect(service.contains("name = \"Hall\"") && !service.contains("Garage"), "\(service)")

        let server = try Executable.server.launch(["serve", "--config", config], home: home)
        defer { server.stop() }
        #expect(server.waitForStandardError(containing: "ready: serving as"), "\(server.output.current.standardError)")
        #expect(
            server.output.current.standardError.contains(
                "the card's settings were refused: \(boot):2: sharing.new_devices"),
            "\(server.output.current.standardError)")
        let status = try Executable.server.run(["pair", "--config", config], home: home)
        #expect(status.stdout.contains("led=error"), "\(status.stdout) \(status.stderr)")
        let audit = try Executable.server.run(["audit", "--config", config, "--json"], home: home)
        #expect(audit.stdout.contains("\"event\":\"settings-refused\""), "\(audit.stdout)")
    }

    @Test func aFileThatIsNotSettingsIsRefusedByCheckWithItsLineAndKey() throws {
        let (home, _, boot, _, _) = try setUp()
        write("name = \"Hall\"\nstate_directory = \"/tmp\"\n", to: boot)
        let checked = try Executable.server.run(["settings", "check", boot], home: home)
        #expect(checked.status != 0)
        #expect(checked.stderr.contains("usbp2p.toml:2"), "\(checked.stderr)")
        write("[wifi]\nssid = \"home\"\n", to: boot)
        let half = try Executable.server.run(["settings", "check", boot], home: home)
        #expect(half.status != 0 && half.stderr.contains("wifi.passphrase"), "\(half.stderr)")
    }
}
