#if canImport(Glibc)
    import Glibc
#endif

/// The keys of usbp2pd's configuration file (/etc/usbp2p/usbp2pd.toml).
/// Documented in docs/configuration.md; a test checks the two agree.
public enum ServerSchema {
    public static let defaultPath = "/etc/usbp2p/usbp2pd.toml"

    public static let schema = ConfigSchema(
        [
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
            ConfigKey(
                "session.listen", .string, default: .string("0.0.0.0:7575"),
                "Address and port where clients on the LAN connect directly (mutual TLS, allowlist); \"\" for none.",
                check: ConfigChecks.optionalListenAddress),
            ConfigKey(
                "lan.mdns", .boolean, default: .boolean(true),
                "Answer multicast DNS queries for _usbp2p._tcp with this server's EndpointId and session port, "
                    + "so laptops on the same LAN find it without the relay."),
            ConfigKey(
                "reach.port_mapping", .boolean, default: .boolean(true),
                "Ask the router to forward the session listener's port (NAT-PMP, then UPnP-IGD), renew it, "
                    + "remove it on stop, and tell clients the public address."),
        ]
            + SessionKeys.keys(
                grace: "How long a session waits for its client to reconnect before its devices are released.",
                relay: "The relay this server registers at (\"host:port\", numeric); \"\" for none."))
}

/// The keys of usbp2p-client's configuration file.
public enum ClientSchema {
    /// $XDG_CONFIG_HOME/usbp2p/client.toml, or ~/.config/usbp2p/client.toml.
    public static var defaultPath: String {
        "\(xdgDirectory("XDG_CONFIG_HOME", fallback: ".config"))/usbp2p/client.toml"
    }

    public static var schema: ConfigSchema {
        ConfigSchema(
            [
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
                ConfigKey(
                    "lan.mdns", .boolean, default: .boolean(true),
                    "Look for the server on the LAN by multicast DNS before (and beside) the relay."),
            ]
                + SessionKeys.keys(
                    grace: "How long the client keeps trying to resume a session before it detaches its devices.",
                    relay: "The relay used to reach servers given by EndpointId alone (\"host:port\", numeric)."))
    }
}

/// The session keys usbp2pd and usbp2p-client share; only their meaning differs.
enum SessionKeys {
    static func keys(grace: String, relay: String) -> [ConfigKey] {
        [
            ConfigKey(
                "session.grace_seconds", .integer, default: .integer(30), grace, check: ConfigChecks.graceSeconds),
            ConfigKey("relay.address", .string, default: .string(""), relay, check: ConfigChecks.optionalPeerAddress),
            ConfigKey(
                "relay.id", .string, default: .string(""),
                "The relay's EndpointId, checked in its TLS handshake; \"\" accepts any relay key.",
                check: ConfigChecks.optionalEndpointId),
            ConfigKey(
                "reach.direct", .boolean, default: .boolean(true),
                "Look for a direct path while a session runs through the relay (the server's LAN and public "
                    + "addresses, then TCP hole punching) and move the session onto it; false keeps sessions "
                    + "on the path they started on."),
        ]
    }
}

/// An XDG base directory from the environment, or $HOME/<fallback>.
func xdgDirectory(_ variable: String, fallback: String) -> String {
    if let value = getenv(variable).map({ String(cString: $0) }), value.hasPrefix("/") { return value }
    let home = getenv("HOME").map { String(cString: $0) } ?? "/"
    return "\(home == "/" ? "" : home)/\(fallback)"
}

/// The keys of usbp2p-relay's configuration file (/etc/usbp2p/relay.toml).
public enum RelaySchema {
    public static let defaultPath = "/etc/usbp2p/relay.toml"

    public static let schema = ConfigSchema([
        ConfigKey(
            "log_level", .string, default: .string("info"),
            "Least severe messages logged: trace, debug, info, notice, warning, error or critical.",
            check: ConfigChecks.logLevel),
        ConfigKey(
            "state_directory", .string, default: .string("/var/lib/usbp2p-relay"),
            "Directory of the relay's identity key (identity.key).", check: ConfigChecks.absolutePath),
        ConfigKey(
            "listen", .string, default: .string("0.0.0.0:443"), "Address and port of the relay's TLS listener.",
            check: ConfigChecks.listenAddress),
        ConfigKey(
            "max_connections", .integer, default: .integer(1024), "Connections served at once.",
            check: { value in
                guard case .integer(let n) = value, (1...100_000).contains(n) else {
                    return "expected 1 to 100000 (got \(value))"
                }
                return nil
            }),
        ConfigKey(
            "connections_per_endpoint", .integer, default: .integer(8),
            "Connections one EndpointId may hold at once (listening, connecting and accepting together).",
            check: { value in
                guard case .integer(let n) = value, (2...1000).contains(n) else {
                    return "expected 2 to 1000 (got \(value))"
                }
                return nil
            }),
    ])
}
