import CLISupport
import Config
import FileSystem

/// usbp2pd's configuration with the card's settings over it: what `usbp2pd settings
/// apply` made of the boot partition's usbp2p.toml (`settings_file`), and why it refused
/// that file, if it did (settings.error beside it: the last good settings are then in
/// settings_file).
enum CardSettings {
    struct Loaded {
        let config: ConfigFile
        /// The keys the card's settings set.
        let applied: [String]
        /// Why the boot partition's file was refused (file, line, key), if it was.
        let refused: String?
    }

    static func load(path: String, required: Bool) throws(ConfigError) -> Loaded {
        let config = try ConfigFile.load(path: path, schema: ServerSchema.schema, required: required)
        return try over(config)
    }

    static func over(_ config: ConfigFile) throws(ConfigError) -> Loaded {
        let settingsPath = config.string("settings_file")
        guard !settingsPath.isEmpty else { return Loaded(config: config, applied: [], refused: nil) }
        let errorPath = AtomicFile.parentDirectory(of: settingsPath) + "/settings.error"
        let refused = ((try? AtomicFile.readState(errorPath, maxSize: 4096)) ?? nil)?.trimmingTrailingNewlines
        guard let text = try? AtomicFile.readState(settingsPath, maxSize: 1 << 20), !text.isEmpty else {
            return Loaded(config: config, applied: [], refused: refused)
        }
        let settings = try BootSettings(parsing: text, path: settingsPath)
        return Loaded(
            config: config.overriding(with: settings.file),
            applied: BootSettings.serviceKeys.filter(settings.file.explicitKeys.contains), refused: refused)
    }
}

extension CommonOptions {
    /// usbp2pd's configuration with the card's settings over it, as the service runs with.
    func loadServerConfig() throws(CLIError) -> ConfigFile {
        let base = try loadConfig(for: Server.self)
        do throws(ConfigError) { return try CardSettings.over(base).config } catch {
            throw CLIError("the card's settings as applied (settings_file): \(error)")
        }
    }
}
