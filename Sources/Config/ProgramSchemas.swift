#if canImport(Glibc)
    import Glibc
#endif

/// The keys of usbp2pd's configuration file (/etc/usbp2p/usbp2pd.toml).
/// Documented in docs/configuration.md; a test checks the two agree.
public enum ServerSchema {
    public static let defaultPath = "/etc/usbp2p/usbp2pd.toml"

    public static let schema = ConfigSchema([
        ConfigKey(
            "log_level", .string, default: .string("info"),
            "Least severe messages logged: trace, debug, info, notice, warning, error or critical.",
            check: ConfigChecks.logLevel),
        ConfigKey(
            "state_directory", .string, default: .string("/var/lib/usbp2p"),
            "Directory of the service's state: its identity key (identity.key) and, later, its allowlist. "
                + "On the appliance it is on the writable state partition.",
            check: ConfigChecks.absolutePath),
        ConfigKey(
            "usb_thread_cpu", .integer, default: .integer(-1),
            "CPU the USB event thread is pinned to; -1 pins it to the last CPU of the machine.",
            check: ConfigChecks.cpu),
        ConfigKey(
            "usbip.enabled", .boolean, default: .boolean(false),
            "Serve plain USB/IP over TCP (no encryption, no authentication) so the kernel's `usbip attach` "
                + "can import: for a trusted LAN, and for tests."),
        ConfigKey(
            "usbip.listen", .string, default: .string("127.0.0.1:3240"),
            "Address and port of the plain USB/IP listener (\"host:port\", \"[v6]:port\").",
            check: ConfigChecks.listenAddress),
    ])
}

/// The keys of usbp2p-client's configuration file.
public enum ClientSchema {
    /// $XDG_CONFIG_HOME/usbp2p/client.toml, or ~/.config/usbp2p/client.toml.
    public static var defaultPath: String {
        "\(xdgDirectory("XDG_CONFIG_HOME", fallback: ".config"))/usbp2p/client.toml"
    }

    public static var schema: ConfigSchema {
        ConfigSchema([
            ConfigKey(
                "log_level", .string, default: .string("info"),
                "Least severe messages logged: trace, debug, info, notice, warning, error or critical.",
                check: ConfigChecks.logLevel),
            ConfigKey(
                "state_directory", .string,
                default: .string("\(xdgDirectory("XDG_STATE_HOME", fallback: ".local/state"))/usbp2p"),
                "Directory of the client's state: its identity key (identity.key) and, later, its paired servers. "
                    + "Default: $XDG_STATE_HOME/usbp2p, or ~/.local/state/usbp2p.",
                check: ConfigChecks.absolutePath),
        ])
    }
}

/// An XDG base directory from the environment, or $HOME/<fallback>.
func xdgDirectory(_ variable: String, fallback: String) -> String {
    if let value = getenv(variable).map({ String(cString: $0) }), value.hasPrefix("/") { return value }
    let home = getenv("HOME").map { String(cString: $0) } ?? "/"
    return "\(home == "/" ? "" : home)/\(fallback)"
}
