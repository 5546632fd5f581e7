import ArgumentParser
import CLISupport
import Config
import FileSystem
import Secure

/// `usbp2pd settings`: the card's settings on its boot partition.
struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "Check or apply the settings on the appliance's boot partition (usbp2p.toml).",
        discussion: """
            The boot partition (FAT: any computer can edit it after flashing) may hold \
            usbp2p.toml with name, relay.address, relay.id, pairing.window_seconds, \
            access.default, access.rules, sharing.new_devices and a [wifi] table (ssid, \
            passphrase, country). docs/image.md shows it.
            """,
        subcommands: [SettingsCheckCommand.self, SettingsApplyCommand.self])
}

/// `usbp2pd settings check FILE`: what a settings file would do, before it goes on a card.
struct SettingsCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Check a settings file as the appliance will at boot.")

    @Argument(help: "The settings file (usbp2p.toml).") var file: String

    func run() throws {
        let settings = try readSettings(file)
        guard let settings else { throw CLIError("\(file): no such file") }
        print("\(file): ok")
        print(describe(settings))
    }
}

/// `usbp2pd settings apply`: at boot, as root (usbp2p-settings.service), before usbp2pd.
struct SettingsApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply the boot partition's settings: the service's part for usbp2pd, the Wi-Fi's for the network.",
        discussion: """
            A file with a mistake changes nothing: the last good settings (kept on the state \
            partition) stay in effect, and the mistake, with file, line and key, goes to \
            OUT/settings.error, where usbp2pd reads it (the LED shows its error pattern, the \
            journal says why). No file: the image's own configuration, no Wi-Fi.
            """)

    @OptionGroup var options: CommonOptions
    @Option(help: ArgumentHelp("The settings on the boot partition.", valueName: "file"))
    var boot = "/boot/firmware/usbp2p.toml"
    @Option(help: ArgumentHelp("Where the applied settings go (a directory in /run).", valueName: "dir"))
    var out = "/run/usbp2p-settings"

    func run() throws {
        let config = try options.loadConfig(for: Server.self)
        let goodPath = "\(config.string("state_directory"))/settings.good"
        var refusal: String?
        var settings: BootSettings?
        do { settings = try readSettings(boot) } catch {
            refusal = "\(error)"
            settings = try? readSettings(goodPath, shownAs: "\(boot) (its last good copy)")
        }
        if refusal == nil {
            let state = config.string("state_directory")
            if !AtomicFile.isDirectory(state) { try AtomicFile.createDirectory(state, mode: 0o700) }
            // The last good settings, which the next mistake falls back to ("": none).
            let text = settings == nil ? "" : try AtomicFile.readState(boot, maxSize: 1 << 20) ?? ""
            try AtomicFile.write(Array(text.utf8), to: goodPath, mode: 0o600)
        }
        if !AtomicFile.isDirectory(out) { try AtomicFile.createDirectory(out, mode: 0o755) }
        try AtomicFile.write(Array((settings?.serviceText ?? "").utf8), to: "\(out)/settings.toml", mode: 0o644)
        let errorPath = "\(out)/settings.error"
        if let refusal {
            try AtomicFile.write(Array((refusal + "\n").utf8), to: errorPath, mode: 0o644)
        } else {
            try AtomicFile.remove(errorPath)
        }
        let wifiPath = "\(out)/wpa_supplicant-wlan0.conf"
        if let wifi = settings?.wifi {
            guard let psk = WPAKey.psk(passphrase: wifi.passphrase, ssid: wifi.ssid) else {
                throw CLIError("cannot derive the Wi-Fi key (OpenSSL's PBKDF2 failed)")
            }
            try AtomicFile.write(
                Array(Self.supplicantConfiguration(ssid: wifi.ssid, psk: psk, country: wifi.country).utf8),
                to: wifiPath, mode: 0o600)
        } else {
            try AtomicFile.remove(wifiPath)
        }
        if let refusal {
            print("settings refused: \(refusal)")
            print(
                settings.map { "the last good settings stay:\n" + describe($0) }
                    ?? "no earlier good settings: the image's own stay")
        } else if let settings {
            print("settings from \(boot) applied:\n" + describe(settings))
        } else {
            print("no settings file (\(boot)): the image's own configuration, no Wi-Fi")
        }
    }

    /// wpa_supplicant's configuration for one WPA-Personal network; the SSID in hex and
    /// the key derived, so nothing from the file is quoted into it.
    static func supplicantConfiguration(ssid: String, psk: [UInt8], country: String) -> String {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
        return """
            # Written at boot by 'usbp2pd settings apply' from the boot partition's usbp2p.toml.
            ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev
            country=\(country)
            network={
            \tssid=\(hex(Array(ssid.utf8)))
            \tpsk=\(hex(psk))
            \tkey_mgmt=WPA-PSK
            }

            """
    }
}

/// The settings at `path`, checked; nil when there is no such file.
private func readSettings(_ path: String, shownAs name: String? = nil) throws -> BootSettings? {
    guard let text = try AtomicFile.readState(path, maxSize: 1 << 20) else { return nil }
    if text.isEmpty { return nil }
    return try BootSettings(parsing: text, path: name ?? path)
}

private func describe(_ settings: BootSettings) -> String {
    let file = settings.file
    var lines: [String] = []
    for key in BootSettings.serviceKeys where file.explicitKeys.contains(key) {
        lines.append("  \(key) = \(file.values[key]!)")
    }
    if let wifi = settings.wifi { lines.append("  Wi-Fi: \"\(wifi.ssid)\" (country \(wifi.country))") }
    return lines.isEmpty ? "  (no keys set)" : lines.joined(separator: "\n")
}
