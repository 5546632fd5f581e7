// The appliance's settings on its boot partition (usbp2p.toml on the FAT partition, which
// Windows, macOS and Linux can all edit after flashing, as Raspberry Pi OS reads its
// first-boot settings from there): the keys of usbp2pd.toml a card's owner sets, and the
// Wi-Fi the appliance joins. Read at boot by `usbp2pd settings apply` (root), which hands
// usbp2pd the service's part (without the Wi-Fi passphrase) and the network its part.
//
//   name = "Living room"
//   relay.address = "203.0.113.7:443"
//   relay.id = "fzq3…"
//   sharing.new_devices = "unshared"
//   [wifi]
//   ssid = "home"
//   passphrase = "correct horse battery"
//   country = "DE"

/// A settings file, checked as `config check` checks usbp2pd.toml, and the Wi-Fi keys
/// together.
public struct BootSettings: Sendable {
    public let file: ConfigFile

    /// The keys of usbp2pd.toml a card's settings may set.
    public static let serviceKeys = [
        "name", "relay.address", "relay.id", "pairing.window_seconds", "access.default", "access.rules",
        "sharing.new_devices", "status.listen", "status.anyone",
    ]

    public static let schema = ConfigSchema(
        ServerSchema.schema.keys.filter { serviceKeys.contains($0.name) } + [
            ConfigKey(
                "wifi.ssid", .string, default: .string(""),
                "The Wi-Fi network to join (1 to 32 bytes); \"\" for none (a cable).",
                check: { value in
                    guard case .string(let text) = value, text.utf8.count <= 32,
                        !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f })
                    else { return "expected a network name of at most 32 bytes, without control characters" }
                    return nil
                }),
            ConfigKey(
                "wifi.passphrase", .string, default: .string(""),
                "Its WPA2-Personal passphrase (a WPA2/WPA3 mixed network joins by WPA2): 8 to 63 printable ASCII characters.",
                check: { value in
                    guard case .string(let text) = value,
                        text.isEmpty
                            || (8...63).contains(text.utf8.count)
                                && text.utf8.allSatisfy({ (0x20...0x7e).contains($0) })
                    else { return "expected 8 to 63 printable ASCII characters (WPA-Personal)" }
                    return nil
                }),
            ConfigKey(
                "wifi.country", .string, default: .string(""),
                "The country the appliance is in (ISO 3166-1 alpha-2, \"DE\", \"US\"): which Wi-Fi channels "
                    + "and powers are allowed there.",
                check: { value in
                    guard case .string(let text) = value,
                        text.isEmpty || text.count == 2 && text.allSatisfy({ $0.isASCII && $0.isUppercase })
                    else { return "expected two capital letters, like \"DE\" or \"US\"" }
                    return nil
                }),
        ])

    public init(parsing text: String, path: String) throws(ConfigError) {
        let file = try ConfigFile(parsing: text, path: path, schema: Self.schema)
        if !file.string("wifi.ssid").isEmpty {
            for key in ["wifi.passphrase", "wifi.country"] where file.string(key).isEmpty {
                throw ConfigError(file: path, line: nil, key: key, reason: "wifi.ssid is set: this must be too")
            }
        } else if file.explicitKeys.contains(where: { $0.hasPrefix("wifi.") && $0 != "wifi.ssid" }),
            !file.string("wifi.passphrase").isEmpty || !file.string("wifi.country").isEmpty
        {
            throw ConfigError(
                file: path, line: nil, key: "wifi.ssid",
                reason: "a Wi-Fi passphrase or country needs the network's name")
        }
        self.file = file
    }

    /// The Wi-Fi to join, if any.
    public var wifi: (ssid: String, passphrase: String, country: String)? {
        let ssid = file.string("wifi.ssid")
        return ssid.isEmpty ? nil : (ssid, file.string("wifi.passphrase"), file.string("wifi.country"))
    }

    /// The service's part as usbp2pd.toml text: the keys the file set, without Wi-Fi.
    public var serviceText: String {
        Self.serviceKeys.filter(file.explicitKeys.contains).map { key in
            "\(key) = \(TOMLText.of(file.values[key]!))"
        }.joined(separator: "\n") + "\n"
    }
}

extension ConfigFile {
    /// This configuration with the keys `settings` set replaced by its values.
    public func overriding(with settings: ConfigFile) -> ConfigFile {
        var values = self.values
        for key in settings.explicitKeys where values[key] != nil { values[key] = settings.values[key] }
        return ConfigFile(path: path, values: values, explicitKeys: explicitKeys.union(settings.explicitKeys))
    }
}

enum TOMLText {
    /// A value as TOML writes it (what TOMLParser reads back to the same).
    static func of(_ value: ConfigValue) -> String {
        switch value {
        case .string(let text): quoted(text)
        case .integer(let number): "\(number)"
        case .boolean(let flag): flag ? "true" : "false"
        case .strings(let texts): "[" + texts.map(quoted).joined(separator: ", ") + "]"
        }
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
