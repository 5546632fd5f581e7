import Config
import Testing

@Suite struct BootSettingsTests {
    @Test func theServicesPartReadsBackToTheSameValuesWithoutTheWiFi() throws {
        let settings = try BootSettings(
            parsing: """
                name = "Tab\\there \\"quoted\\" \\\\ \\u0001 é"
                access.rules = ["deny * 046d:*", "allow * serial=\\"x\\""]
                pairing.window_seconds = 300
                [wifi]
                ssid = "home"
                passphrase = "correct horse"
                country = "NL"
                """, path: "usbp2p.toml")
        let again = try BootSettings(parsing: settings.serviceText, path: "settings.toml")
        for key in ["name", "access.rules", "pairing.window_seconds"] {
            #expect(again.file.values[key] == settings.file.values[key], "\(key)")
        }
        #expect(again.wifi == nil && !settings.serviceText.contains("correct horse"))
        #expect(settings.wifi?.ssid == "home" && settings.wifi?.country == "NL")
    }

    @Test func theCardsKeysReplaceTheConfigurationsAndTheRestStays() throws {
        let base = try ConfigFile(
            parsing: "name = \"image\"\nstate_directory = \"/var/lib/usbp2p\"\n", path: "usbp2pd.toml",
            schema: ServerSchema.schema)
        let card = try BootSettings(parsing: "name = \"Hall\"\n", path: "usbp2p.toml")
        let merged = base.overriding(with: card.file)
        #expect(merged.string("name") == "Hall" && merged.string("state_directory") == "/var/lib/usbp2p")
        #expect(merged.string("relay.address") == base.string("relay.address"))
    }

    @Test(arguments: [
        ("state_directory = \"/tmp\"", "usbp2p.toml:1"),
        ("[wifi]\nssid = \"home\"\ncountry = \"DE\"", "wifi.passphrase: wifi.ssid is set"),
        ("[wifi]\nssid = \"home\"\npassphrase = \"12345678\"", "wifi.country: wifi.ssid is set"),
        ("[wifi]\npassphrase = \"12345678\"", "wifi.ssid: a Wi-Fi passphrase or country needs"),
        ("[wifi]\nssid = \"home\"\npassphrase = \"short\"\ncountry = \"DE\"", "usbp2p.toml:3: wifi.passphrase"),
        ("[wifi]\nssid = \"home\"\npassphrase = \"12345678\"\ncountry = \"de\"", "usbp2p.toml:4: wifi.country"),
        ("[wifi]\nssid = \"\(String(repeating: "x", count: 33))\"", "usbp2p.toml:2: wifi.ssid"),
        ("sharing.new_devices = \"sometimes\"", "usbp2p.toml:1: sharing.new_devices"),
    ])
    func aMistakeNamesItsKeyAndWhereItCan(text: String, message: String) {
        do {
            _ = try BootSettings(parsing: text, path: "usbp2p.toml")
            Issue.record("accepted: \(text)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}
