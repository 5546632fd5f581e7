import FileSystem

#if canImport(Glibc)
    import Glibc
#endif

/// What a running `usbp2p-client attach` tells `usbp2p-client status`: one small file per
/// attach process in the status directory, rewritten (atomically) as things change.
///
///     usbp2p-status 1
///     pid<TAB>1234
///     server<TAB><EndpointId>
///     path<TAB>direct 198.18.1.2:7575 (hole-punched)
///     connected<TAB>1
///     rtt_ms<TAB>12            (absent until measured)
///     sent<TAB>123456
///     received<TAB>654321
///     device<TAB>1-1<TAB>0     (bus id on the server, vhci port here; one line each)
public struct AttachStatus: Equatable, Sendable {
    public struct Device: Equatable, Sendable {
        public var busid: String
        public var port: Int
        public init(busid: String, port: Int) {
            self.busid = busid
            self.port = port
        }
    }

    public var pid: Int32
    public var server: String
    public var path: String
    public var connected: Bool
    public var roundTripMilliseconds: Int?
    public var bytesSent: UInt64
    public var bytesReceived: UInt64
    public var devices: [Device]

    public init(
        pid: Int32, server: String, path: String, connected: Bool, roundTripMilliseconds: Int?, bytesSent: UInt64,
        bytesReceived: UInt64, devices: [Device]
    ) {
        self.pid = pid
        self.server = server
        self.path = path
        self.connected = connected
        self.roundTripMilliseconds = roundTripMilliseconds
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.devices = devices
    }

    static let header = "usbp2p-status 1"
    /// A status file is small; a bigger one is not read.
    public static let maxSize = 16 * 1024

    public var encoded: String {
        var lines = [
            Self.header, "pid\t\(pid)", "server\t\(Self.clean(server))", "path\t\(Self.clean(path))",
            "connected\t\(connected ? 1 : 0)",
        ]
        if let roundTripMilliseconds { lines.append("rtt_ms\t\(roundTripMilliseconds)") }
        lines += ["sent\t\(bytesSent)", "received\t\(bytesReceived)"]
        lines += devices.map { "device\t\(Self.clean($0.busid))\t\($0.port)" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Tabs and line breaks would break the format; none belong in these texts anyway.
    static func clean(_ text: String) -> String {
        String(text.map { $0 == "\t" || $0.isNewline ? " " : $0 })
    }

    public init(decoding text: String) throws(AttachStatusError) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard lines.first == Self.header else { throw .malformed(line: 1, "not a usbp2p status file") }
        var fields: [String: String] = [:]
        var devices: [Device] = []
        for (index, line) in lines.enumerated().dropFirst() {
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2 else { throw .malformed(line: index + 1, "no value") }
            if parts[0] == "device" {
                guard parts.count == 3, let port = Int(parts[2]), port >= 0 else {
                    throw .malformed(line: index + 1, "a device line is 'device<TAB>busid<TAB>port'")
                }
                devices.append(Device(busid: parts[1], port: port))
                continue
            }
            guard parts.count == 2, fields[parts[0]] == nil else {
                throw .malformed(line: index + 1, "'\(parts[0])' repeated or with extra fields")
            }
            fields[parts[0]] = parts[1]
        }
        func field(_ key: String) throws(AttachStatusError) -> String {
            guard let value = fields[key] else { throw .malformed(line: 0, "no '\(key)'") }
            return value
        }
        func number<T: FixedWidthInteger>(_ key: String, as: T.Type) throws(AttachStatusError) -> T {
            guard let value = T(try field(key)) else { throw .malformed(line: 0, "'\(key)' is not a number") }
            return value
        }
        pid = try number("pid", as: Int32.self)
        server = try field("server")
        path = try field("path")
        let connectedText = try field("connected")
        guard connectedText == "0" || connectedText == "1" else { throw .malformed(line: 0, "'connected' is 0 or 1") }
        connected = connectedText == "1"
        roundTripMilliseconds = fields["rtt_ms"] == nil ? nil : try number("rtt_ms", as: Int.self)
        bytesSent = try number("sent", as: UInt64.self)
        bytesReceived = try number("received", as: UInt64.self)
        self.devices = devices
    }

    /// As JSON, for `status --json`.
    public var json: String {
        let rtt = roundTripMilliseconds.map(String.init) ?? "null"
        let list = devices.map { "{\"busid\":\(Self.quote($0.busid)),\"port\":\($0.port)}" }.joined(separator: ",")
        return "{\"pid\":\(pid),\"server\":\(Self.quote(server)),\"path\":\(Self.quote(path)),"
            + "\"connected\":\(connected),\"rtt_ms\":\(rtt),\"bytes_sent\":\(bytesSent),"
            + "\"bytes_received\":\(bytesReceived),\"devices\":[\(list)]}"
    }

    /// A JSON string literal (RFC 8259 §7).
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

public enum AttachStatusError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(line: Int, String)
    public var description: String {
        switch self {
        case .malformed(let line, let why): line > 0 ? "line \(line): \(why)" : why
        }
    }
}

/// Where status files live: $XDG_RUNTIME_DIR/usbp2p when that is set, else /run/usbp2p
/// for root (`sudo` clears XDG_RUNTIME_DIR, and attach needs root).
public enum AttachStatusDirectory {
    public static var forThisUser: String? {
        if let runtime = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }), runtime.hasPrefix("/") {
            return "\(runtime)/usbp2p"
        }
        return getuid() == 0 ? "/run/usbp2p" : nil
    }

    /// Where `status` looks: this user's directory and root's.
    public static var searched: [String] {
        var directories = forThisUser.map { [$0] } ?? []
        if !directories.contains("/run/usbp2p") { directories.append("/run/usbp2p") }
        return directories
    }

    public static func file(in directory: String, pid: Int32) -> String { "\(directory)/attach-\(pid).status" }

    public static func write(_ status: AttachStatus, in directory: String) throws(SystemError) {
        if !AtomicFile.isDirectory(directory) { try AtomicFile.createDirectory(directory, mode: 0o755) }
        try AtomicFile.write(Array(status.encoded.utf8), to: file(in: directory, pid: status.pid), mode: 0o644)
    }

    public static func remove(in directory: String, pid: Int32) { unlink(file(in: directory, pid: pid)) }

    /// The status of every attach process still running; files of processes that are
    /// gone are skipped, unreadable ones reported in `problems`.
    public static func readAll() -> (statuses: [AttachStatus], problems: [String]) {
        var statuses: [AttachStatus] = []
        var problems: [String] = []
        for directory in searched {
            guard let handle = opendir(directory) else { continue }
            defer { closedir(handle) }
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                guard name.hasPrefix("attach-"), name.hasSuffix(".status") else { continue }
                let path = "\(directory)/\(name)"
                do {
                    let bytes = try AtomicFile.read(path, maxSize: AttachStatus.maxSize)
                    let status = try AttachStatus(decoding: String(decoding: bytes, as: UTF8.self))
                    guard kill(status.pid, 0) == 0 || errno == EPERM else { continue }  // that attach has ended
                    statuses.append(status)
                } catch {
                    problems.append("\(path): \(error)")
                }
            }
        }
        return (statuses.sorted { $0.pid < $1.pid }, problems)
    }
}
