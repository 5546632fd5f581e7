import ArgumentParser
import Config
import Identity
import Log
import Secure
import Sodium

#if canImport(Glibc)
    import Glibc
#endif

/// This release of usbp2p.
public let usbp2pVersion = "0.1.0"

/// What distinguishes the three programs to the commands they share.
public protocol Program: Sendable {
    /// The executable's name, as logs and messages show it.
    static var name: String { get }
    static var schema: ConfigSchema { get }
    static var defaultConfigPath: String { get }
    /// Hands a shared command to the program's service when it has one that owns the
    /// machine's state (the laptop's client); returns when this process should run it.
    static func forwardToService(_ command: String, options: CommonOptions) throws
}

extension Program {
    public static func forwardToService(_ command: String, options: CommonOptions) throws {}
}

/// The text of `--version`: the program's version and the C libraries it runs on,
/// which is what a bug report needs; `more` names the libraries only that program links
/// (the laptop's client links neither libusb nor libgpiod).
public func versionText(_ program: String, more: [String] = []) -> String {
    """
    \(program) \(usbp2pVersion)
    \((["libsodium \(Sodium.version)", OpenSSLLibrary.version] + more).joined(separator: ", "))
    """
}

/// Options every command of a program takes.
public struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Configuration file.", valueName: "path"))
    public var config: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Least severe messages to log: \(LogLevel.allCases.map(\.rawValue).joined(separator: ", ")). "
                + "Overrides log_level of the configuration file.", valueName: "level"))
    public var logLevel: LogLevel?

    public init() {}

    /// The configuration: the file named by --config (which must exist), else the
    /// program's default file if present, else the defaults.
    public func loadConfig<P: Program>(for program: P.Type) throws(CLIError) -> ConfigFile {
        do throws(ConfigError) {
            if let config { return try ConfigFile.load(path: config, schema: P.schema, required: true) }
            return try ConfigFile.load(path: P.defaultConfigPath, schema: P.schema, required: false)
        } catch {
            throw CLIError("\(error)")
        }
    }

    /// A logger at the level the flag, else the file, asks for.
    public func logger<P: Program>(for program: P.Type, config: ConfigFile) -> Logger {
        let level = logLevel ?? LogLevel(rawValue: config.string("log_level")) ?? .info
        return Logger(label: P.name, level: level)
    }
}

extension LogLevel: ExpressibleByArgument {}

/// An error for the user: printed as "Error: <message>" with exit status 1.
public struct CLIError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// A 16-bit id as four hex digits, as lsusb writes vendor and product ids.
public func hex4(_ value: UInt16) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 4 - digits.count) + digits
}

/// This endpoint's identity from `state_directory/identity.key`, created on first use.
public func loadIdentity(config: ConfigFile, log: Logger) throws(CLIError) -> EndpointIdentity {
    let path = "\(config.string("state_directory"))/identity.key"
    do throws(KeyFileError) {
        let (identity, created) = try KeyFile.loadOrCreate(at: path)
        if created { log.notice("created a new identity in \(path): \(identity.endpointId)") }
        return identity
    } catch {
        throw CLIError("\(error)")
    }
}

/// This machine's host name ("" if it has none).
public func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Today's date in UTC, "2026-12-01", for the allowlist and the peer list.
public func todayUTC() -> String {
    var now = time(nil)
    var parts = tm()
    gmtime_r(&now, &parts)
    func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
}

/// The server's pairing secret (state_directory/pairing.secret), made on first use.
public func loadPairingSecret(config: ConfigFile, log: Logger) throws(CLIError) -> PairingSecret {
    let path = "\(config.string("state_directory"))/pairing.secret"
    do throws(PairingSecretError) {
        let (secret, created) = try PairingSecret.loadOrCreate(at: path)
        if created { log.notice("created a new pairing secret in \(path)") }
        return secret
    } catch {
        throw CLIError("\(error)")
    }
}

/// Prints `text` and a newline on standard error: a note beside a command's output.
public func printError(_ text: String) {
    let bytes = Array((text + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
