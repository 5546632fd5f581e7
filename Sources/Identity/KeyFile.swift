import FileSystem

#if canImport(Glibc)
    import Glibc
#endif

// The key file holds the identity's seed as text:
//
//   # usbp2p endpoint key. Anyone who can read this file can act as this endpoint.
//   usbp2p-ed25519-seed-v1 <64 hexadecimal digits>
//
// It is created 0600, written atomically, and refused when group or others may read it.

/// Reading and creating the key file of an endpoint.
public enum KeyFile {
    static let tag = "usbp2p-ed25519-seed-v1"
    /// Far more than a valid file; a larger one is not read at all.
    static let maxSize = 4096

    /// The identity stored at `path`, created there first if the file does not exist.
    /// Returns whether it was created.
    public static func loadOrCreate(at path: String) throws(KeyFileError) -> (identity: EndpointIdentity, created: Bool)
    {
        if AtomicFile.exists(path) { return (try load(from: path), false) }
        let identity = EndpointIdentity.generate()
        try save(identity, to: path)
        return (identity, true)
    }

    /// The identity stored at `path`.
    public static func load(from path: String) throws(KeyFileError) -> EndpointIdentity {
        let mode: mode_t
        do throws(SystemError) {
            mode = try AtomicFile.attributes(path).mode
        } catch {
            throw .unreadable(error)
        }
        guard mode & 0o077 == 0 else { throw .insecurePermissions(path: path, mode: mode) }
        let bytes: [UInt8]
        do throws(SystemError) {
            bytes = try AtomicFile.read(path, maxSize: maxSize)
        } catch {
            throw .unreadable(error)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .malformed(path: path, line: nil, reason: "it is not text")
        }
        var seed: [UInt8]?
        for (index, rawLine) in text.fileLines.enumerated() {
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 2, fields[0] == tag else {
                throw .malformed(path: path, line: index + 1, reason: "expected '\(tag) <64 hex digits>'")
            }
            guard seed == nil else { throw .malformed(path: path, line: index + 1, reason: "a second key") }
            guard let parsed = decodeHex(fields[1]), parsed.count == 32 else {
                throw .malformed(path: path, line: index + 1, reason: "the key is not 64 hexadecimal digits")
            }
            seed = parsed
        }
        guard let seed else { throw .malformed(path: path, line: nil, reason: "it holds no key") }
        return EndpointIdentity(seed: seed)
    }

    /// Writes `identity` to `path` (0600, atomically), creating its directory (0700).
    public static func save(_ identity: EndpointIdentity, to path: String) throws(KeyFileError) {
        let text = """
            # usbp2p endpoint key. Anyone who can read this file can act as this endpoint.
            \(tag) \(encodeHex(identity.seed))

            """
        do throws(SystemError) {
            try AtomicFile.createDirectory(AtomicFile.parentDirectory(of: path), mode: 0o700)
            try AtomicFile.write(Array(text.utf8), to: path, mode: 0o600)
        } catch {
            throw .unwritable(error)
        }
    }

    static func encodeHex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decodeHex(_ text: Substring) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < chars.count {
            guard let high = hexValue(chars[index]), let low = hexValue(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Why a key file could not be used.
public enum KeyFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(SystemError)
    case unwritable(SystemError)
    case insecurePermissions(path: String, mode: mode_t)
    case malformed(path: String, line: Int?, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let e): return "cannot read the key file: \(e)"
        case .unwritable(let e): return "cannot write the key file: \(e)"
        case .insecurePermissions(let path, let mode):
            return "key file \(path) may be read by others (mode \(String(mode, radix: 8))); "
                + "run 'chmod 600 \(path)' if it was never exposed, or delete it to make a new identity"
        case .malformed(let path, let line, let reason):
            let location = line.map { "\(path):\($0)" } ?? path
            return "key file \(location) is corrupt: \(reason)"
        }
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return s
    }
}
