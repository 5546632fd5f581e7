import AccessPolicy

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
                "Directory of the service's state: its identity key (identity.key), allowlist and pairing secret. "
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
                "lan.avahi_services", .string, default: .string(""),
                "With lan.mdns: a directory avahi-daemon reads service files from (its /etc/avahi/services). "
                    + "usbp2pd then writes its _usbp2p._tcp service (and the status page's _http._tcp) there when "
                    + "it starts and removes them when it stops, and avahi answers for it: one mDNS responder on "
                    + "the machine. \"\" (the default): usbp2pd answers mDNS itself.",
                check: ConfigChecks.optionalAbsolutePath),
            ConfigKey(
                "reach.port_mapping", .boolean, default: .boolean(true),
                "Ask the router to forward the session listener's port (NAT-PMP, then UPnP-IGD), renew it, "
                    + "remove it on stop, and tell clients the public address."),
            ConfigKey(
                "name", .string, default: .string(""),
                "The name this server gives laptops when they pair (\"\" for the host name).",
                check: ConfigChecks.displayName),
            ConfigKey(
                "pairing.window_seconds", .integer, default: .integer(120),
                "How long the pairing window stays open after a short press of the button (or 'usbp2pd pair --open').",
                check: ConfigChecks.range(10...3600)),
            ConfigKey(
                "gpio.chip", .string, default: .string("gpiochip0"),
                "The GPIO chip of the LED and the button (a name in /dev, or a path); \"\" for no GPIO. "
                    + "On a Raspberry Pi the 40-pin header is gpiochip0.",
                check: ConfigChecks.gpioChip),
            ConfigKey(
                "gpio.led_line", .integer, default: .integer(17),
                "The status LED's line on that chip (17: GPIO17, header pin 11, to the LED's anode through a resistor); "
                    + "-1 for none.",
                check: ConfigChecks.range(-1...1023)),
            ConfigKey(
                "gpio.led_active_low", .boolean, default: .boolean(false),
                "Whether the LED lights when its line is low (wired from 3.3 V to the pin)."),
            ConfigKey(
                "gpio.button_line", .integer, default: .integer(27),
                "The pairing button's line (27: GPIO27, header pin 13, the button to ground; the internal pull-up "
                    + "is used); -1 for none.",
                check: ConfigChecks.range(-1...1023)),
            ConfigKey(
                "gpio.debounce_ms", .integer, default: .integer(30),
                "How long the button's level must hold before it counts, in milliseconds.",
                check: ConfigChecks.range(1...1000)),
            ConfigKey(
                "control.socket", .string, default: .string("/run/usbp2p/usbp2pd.sock"),
                "The service's control socket, for 'usbp2pd pair --open' (only its owner may connect); \"\" for none.",
                check: ConfigChecks.optionalAbsolutePath),
            ConfigKey(
                "metrics.listen", .string, default: .string("127.0.0.1:9575"),
                "Where the Prometheus metrics are served (GET /metrics, plain HTTP); loopback unless you mean "
                    + "otherwise; \"\" for none.",
                check: ConfigChecks.optionalListenAddress),
            ConfigKey(
                "access.default", .string, default: .string("allow"),
                "What a paired client may do with a device no access rule decides: \"allow\" or \"deny\".",
                check: { value in
                    guard case .string(let text) = value, text == "allow" || text == "deny" else {
                        return "expected \"allow\" or \"deny\" (got \(value))"
                    }
                    return nil
                }),
            ConfigKey(
                "status.listen", .string, default: .string(""),
                "Where the read-only status page is served (HTML at /, JSON at /status.json; plain HTTP): devices, "
                    + "who has them, paired laptops, sessions, recent events; nothing secret. \"\" for none "
                    + "(the appliance serves it on 0.0.0.0:80).",
                check: ConfigChecks.optionalListenAddress),
            ConfigKey(
                "status.anyone", .boolean, default: .boolean(false),
                "Answer the status page for every source address, not only loopback, private (RFC 1918, RFC 4193) "
                    + "and link-local ones."),
            ConfigKey(
                "settings_file", .string, default: .string(""),
                "The card's settings, as 'usbp2pd settings apply' made them of the boot partition's usbp2p.toml "
                    + "(the appliance: /run/usbp2p-settings/settings.toml): its keys replace this file's; beside it, "
                    + "settings.error says why the boot partition's file was refused. \"\" for none.",
                check: { value in value == .string("") ? nil : ConfigChecks.absolutePath(value) }),
            ConfigKey(
                "sharing.new_devices", .string, default: .string("unshared"),
                "With whom a device the owner has not shared or unshared yet is shared: \"unshared\" (only the "
                    + "owner, the first laptop paired, uses it) or \"shared\" (every paired laptop). The owner "
                    + "changes it per device: usbp2p-client share, usbp2pd share.",
                check: { value in
                    guard case .string(let text) = value, NewDevices(rawValue: text) != nil else {
                        return "expected \"shared\" or \"unshared\" (got \(value))"
                    }
                    return nil
                }),
            ConfigKey(
                "access.rules", .strings, default: .strings([]),
                "Which paired clients may use which devices: \"allow|deny PEER DEVICE\" lines, the first match "
                    + "deciding; PEER is * or an EndpointId, DEVICE is *, VVVV:PPPP (PPPP may be *), serial=... or "
                    + "port=BUSID. A device a client may not use is not listed to it.",
                check: { value in
                    guard case .strings(let rules) = value else { return "expected an array of strings" }
                    do throws(AccessPolicyError) { _ = try AccessPolicy(default: "allow", rules: rules) } catch {
                        return "\(error)"
                    }
                    return nil
                }),
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
                    "Directory of the client's state: its identity key (identity.key) and its paired servers (peers). "
                        + "Default: $XDG_STATE_HOME/usbp2p, or ~/.local/state/usbp2p.",
                    check: ConfigChecks.absolutePath),
                ConfigKey(
                    "lan.mdns", .boolean, default: .boolean(true),
                    "Look for the server on the LAN by multicast DNS before (and beside) the relay."),
                ConfigKey(
                    "name", .string, default: .string(""),
                    "The name this client gives a server when it pairs (\"\" for user@host).",
                    check: ConfigChecks.displayName),
                ConfigKey(
                    "service.socket", .string, default: .string("/run/usbp2p-client/control.sock"),
                    "The laptop service's Unix socket: 'usbp2p-client serve' listens there, the CLI asks there "
                        + "(when run without --config).",
                    check: ConfigChecks.absolutePath),
            ]
                + SessionKeys.keys(
                    grace: "How long the client keeps trying to resume a session before it detaches its devices.",
                    relay: "The relay used to reach servers given by EndpointId alone (\"host:port\", numeric)."))
    }
}

extension ConfigChecks {
    public static func range(_ allowed: ClosedRange<Int>) -> @Sendable (ConfigValue) -> String? {
        { value in
            guard case .integer(let n) = value, allowed.contains(n) else {
                return "expected \(allowed.lowerBound) to \(allowed.upperBound) (got \(value))"
            }
            return nil
        }
    }

    /// A name shown to people: one line, at most 64 bytes.
    public static let displayName: @Sendable (ConfigValue) -> String? = { value in
        guard case .string(let text) = value, text.utf8.count <= 64,
            !text.contains(where: { $0.isNewline || $0 == "#" })
        else { return "expected one line of at most 64 bytes without '#' (got \(value))" }
        return nil
    }

    public static let optionalAbsolutePath: @Sendable (ConfigValue) -> String? = { value in
        value == .string("") ? nil : absolutePath(value)
    }

    /// A chip name in /dev ("gpiochip0"), a path, or "" for none.
    public static let gpioChip: @Sendable (ConfigValue) -> String? = { value in
        guard case .string(let text) = value else { return "expected a string" }
        if text.isEmpty || text.hasPrefix("/") { return nil }
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            return "expected a chip name like \"gpiochip0\", a path, or \"\" (got \(value))"
        }
        return nil
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
        ConfigKey(
            "connections_per_source", .integer, default: .integer(64),
            "Connections one source address may hold at once, registered or not.",
            check: { value in
                guard case .integer(let n) = value, (1...100_000).contains(n) else {
                    return "expected 1 to 100000 (got \(value))"
                }
                return nil
            }),
        ConfigKey(
            "splice_idle_seconds", .integer, default: .integer(120),
            "A splice with nothing to carry in one direction for this long ends.",
            check: { value in
                guard case .integer(let n) = value, (10...86_400).contains(n) else {
                    return "expected 10 to 86400 (got \(value))"
                }
                return nil
            }),
    ])
}
