import FileSystem
import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// The service manager's notify protocol (sd_notify(3)): newline-separated KEY=VALUE
/// lines in one datagram to the Unix socket named by $NOTIFY_SOCKET. No libsystemd
/// needed; without $NOTIFY_SOCKET (not under systemd) every call does nothing.
public final class SystemdNotifier: Sendable {
    public let socketPath: String?
    /// How often systemd expects WATCHDOG=1 (WatchdogSec), when it asked for pings.
    public let watchdogSeconds: Double?

    public init(environment: [String: String] = SystemdNotifier.processEnvironment, pid: Int32 = getpid()) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        watchdogSeconds = Self.watchdogInterval(
            microseconds: environment["WATCHDOG_USEC"], pid: environment["WATCHDOG_PID"], ownPid: pid)
    }

    /// WATCHDOG_USEC, if it is meant for this process (WATCHDOG_PID is ours or absent).
    public static func watchdogInterval(microseconds: String?, pid: String?, ownPid: Int32) -> Double? {
        guard let microseconds, let value = UInt64(microseconds), value > 0 else { return nil }
        if let pid, Int32(pid) != ownPid { return nil }
        return Double(value) / 1_000_000
    }

    /// The message for `fields`, one KEY=VALUE per line (newlines in values become spaces).
    public static func message(_ fields: [(String, String)]) -> String {
        fields.map { "\($0.0)=\(String($0.1.map { $0.isNewline ? " " : $0 }))" }.joined(separator: "\n") + "\n"
    }

    /// Sends `fields`; failures are returned, not thrown (the service runs on without).
    @discardableResult
    public func notify(_ fields: [(String, String)]) -> SystemError? {
        guard let socketPath else { return nil }
        do throws(SystemError) {
            try UnixSocket.sendDatagram(Array(Self.message(fields).utf8), to: socketPath)
            return nil
        } catch {
            return error
        }
    }

    public func ready(status: String) { notify([("READY", "1"), ("STATUS", status)]) }
    public func status(_ text: String) { notify([("STATUS", text)]) }
    public func watchdogPing() { notify([("WATCHDOG", "1")]) }
    public func stopping(status: String) { notify([("STOPPING", "1"), ("STATUS", status)]) }

    public static var processEnvironment: [String: String] {
        var result: [String: String] = [:]
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            if let value = getenv(key) { result[key] = String(cString: value) }
        }
        return result
    }
}
