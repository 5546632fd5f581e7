import Identity

/// A value as a configuration file gives it.
public enum ConfigValue: Equatable, Sendable, CustomStringConvertible {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case strings([String])

    public var description: String {
        switch self {
        case .string(let s): "\"\(s)\""
        case .integer(let i): "\(i)"
        case .boolean(let b): "\(b)"
        case .strings(let list): "[" + list.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        }
    }
}

/// One key a configuration file may set: its place, type, default and meaning, and the
/// check its value must pass. docs/configuration.md documents the same keys.
public struct ConfigKey: Sendable {
    public enum ValueType: String, Sendable {
        case string, integer, boolean
        case strings = "array of strings"
    }

    /// Dotted name: "log_level", or "usbip.listen" for `listen` under `[usbip]`.
    public let name: String
    public let type: ValueType
    public let defaultValue: ConfigValue
    public let summary: String
    /// Returns why a value of the right type is still wrong, or nil if it is fine.
    let check: @Sendable (ConfigValue) -> String?

    public init(
        _ name: String, _ type: ValueType, default defaultValue: ConfigValue, _ summary: String,
        check: @escaping @Sendable (ConfigValue) -> String? = { _ in nil }
    ) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.summary = summary
        self.check = check
    }
}

/// The keys of one program's configuration file.
public struct ConfigSchema: Sendable {
    public let keys: [ConfigKey]

    public init(_ keys: [ConfigKey]) { self.keys = keys }

    func key(named name: String) -> ConfigKey? { keys.first { $0.name == name } }

    /// Whether `prefix` names a table holding keys (e.g. "usbip" for "usbip.listen").
    func isSection(_ prefix: String) -> Bool { keys.contains { $0.name.hasPrefix(prefix + ".") } }

    /// The known key nearest to a misspelt one, if it is near enough to be the intent.
    func suggestion(for name: String) -> String? {
        let scored = keys.map { ($0.name, editDistance($0.name, name)) }.min { $0.1 < $1.1 }
        guard let (best, distance) = scored, distance <= max(2, name.count / 3) else { return nil }
        return best
    }
}

/// Checks shared by several programs' keys.
public enum ConfigChecks {
    public static let logLevel: @Sendable (ConfigValue) -> String? = { value in
        guard case .string(let s) = value, LogLevelName.all.contains(s) else {
            return "expected one of \(LogLevelName.all.joined(separator: ", ")) (got \(value))"
        }
        return nil
    }

    public static let absolutePath: @Sendable (ConfigValue) -> String? = { value in
        guard case .string(let s) = value, s.hasPrefix("/"), !s.utf8.contains(0) else {
            return "expected an absolute path (got \(value))"
        }
        return nil
    }
}

extension ConfigChecks {
    public static let cpu: @Sendable (ConfigValue) -> String? = { value in
        guard case .integer(let cpu) = value, cpu >= -1, cpu < 1024 else {
            return "expected a CPU number (0, 1, ...) or -1 for the last CPU (got \(value))"
        }
        return nil
    }

    /// "host:port" with a numeric IPv4 or IPv6 address and a port 1...65535.
    public static let listenAddress: @Sendable (ConfigValue) -> String? = { value in
        guard case .string(let text) = value, let colon = text.lastIndex(of: ":"),
            let port = UInt16(text[text.index(after: colon)...]), port > 0
        else { return "expected an address and port like \"127.0.0.1:3240\" or \"[::1]:3240\" (got \(value))" }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let ipv4 = host.split(separator: ".", omittingEmptySubsequences: false)
        let isIPv4 = ipv4.count == 4 && ipv4.allSatisfy { UInt8($0) != nil }
        let isIPv6 = host.contains(":") && host.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        guard isIPv4 || isIPv6 else {
            return "expected a numeric IPv4 or IPv6 address (got \"\(host)\"); names are not resolved"
        }
        return nil
    }
}

extension ConfigChecks {
    /// A listen address, or "" for off.
    public static let optionalListenAddress: @Sendable (ConfigValue) -> String? = { value in
        value == .string("") ? nil : listenAddress(value)
    }

    /// Where a peer is: "host:port" (numeric), or "" for none.
    public static let optionalPeerAddress: @Sendable (ConfigValue) -> String? = { value in
        value == .string("") ? nil : listenAddress(value)
    }

    /// An EndpointId, or "" for none.
    public static let optionalEndpointId: @Sendable (ConfigValue) -> String? = { value in
        guard case .string(let text) = value else { return "expected an EndpointId (got \(value))" }
        if text.isEmpty { return nil }
        do throws(EndpointIdError) { _ = try EndpointId(parsing: text) } catch {
            return "\(error)"
        }
        return nil
    }

    /// Seconds a session waits for its peer to come back.
    public static let graceSeconds: @Sendable (ConfigValue) -> String? = { value in
        guard case .integer(let n) = value, (1...3600).contains(n) else {
            return "expected seconds from 1 to 3600 (got \(value))"
        }
        return nil
    }
}

enum LogLevelName {
    static let all = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
}

/// Levenshtein distance, for "did you mean" hints on unknown keys.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where j <= b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
