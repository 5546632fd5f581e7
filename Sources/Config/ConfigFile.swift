import FileSystem
import TOMLKit

/// A configuration file checked against a schema: every key known, of the right type,
/// with a valid value. Keys it does not set take their defaults.
public struct ConfigFile: Sendable {
    /// Where the values came from ("(defaults)" when no file was read).
    public let path: String
    /// Every key of the schema, dotted name to value.
    public let values: [String: ConfigValue]
    /// The keys the file itself set.
    public let explicitKeys: Set<String>

    /// Largest file accepted; a configuration is a few hundred bytes.
    static let maxSize = 1 << 20

    /// The schema's defaults, for when there is no file.
    public init(defaultsOf schema: ConfigSchema) {
        path = "(defaults)"
        values = Dictionary(uniqueKeysWithValues: schema.keys.map { ($0.name, $0.defaultValue) })
        explicitKeys = []
    }

    /// Parses and checks `text`, which was read from `path` (used in messages).
    public init(parsing text: String, path: String, schema: ConfigSchema) throws(ConfigError) {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(
                file: path, line: error.source.begin.line, key: nil,
                reason: "not valid TOML: \(error.description)")
        } catch {
            throw ConfigError(file: path, line: nil, key: nil, reason: "not valid TOML: \(error)")
        }
        let locator = KeyLocator(text: text)
        var values = Dictionary(uniqueKeysWithValues: schema.keys.map { ($0.name, $0.defaultValue) })
        var explicit = Set<String>()
        try Self.collect(
            table, prefix: "", schema: schema, locator: locator, path: path,
            into: &values, explicit: &explicit)
        self.path = path
        self.values = values
        self.explicitKeys = explicit
    }

    public func string(_ key: String) -> String {
        guard case .string(let s) = values[key] else { preconditionFailure("no string key \(key) in schema") }
        return s
    }

    public func integer(_ key: String) -> Int {
        guard case .integer(let i) = values[key] else { preconditionFailure("no integer key \(key) in schema") }
        return i
    }

    public func boolean(_ key: String) -> Bool {
        guard case .boolean(let b) = values[key] else { preconditionFailure("no boolean key \(key) in schema") }
        return b
    }

    private static func collect(
        _ table: TOMLTable, prefix: String, schema: ConfigSchema, locator: KeyLocator, path: String,
        into values: inout [String: ConfigValue], explicit: inout Set<String>
    ) throws(ConfigError) {
        for key in table.keys.sorted() {
            guard let raw = table[key] else { continue }
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            let line = locator.line(of: name)
            if raw.type == .table, schema.isSection(name), let sub = raw.table {
                try collect(
                    sub, prefix: name, schema: schema, locator: locator, path: path,
                    into: &values, explicit: &explicit)
                continue
            }
            guard let spec = schema.key(named: name) else {
                let hint = schema.suggestion(for: name).map { " (did you mean '\($0)'?)" } ?? ""
                throw ConfigError(file: path, line: line, key: name, reason: "unknown key\(hint)")
            }
            let value: ConfigValue
            switch (spec.type, raw.type) {
            case (.string, .string): value = .string(raw.string!)
            case (.integer, .int): value = .integer(raw.int!)
            case (.boolean, .bool): value = .boolean(raw.bool!)
            default:
                throw ConfigError(
                    file: path, line: line, key: name,
                    reason: "expected \(article(spec.type.rawValue)), found \(article(raw.type.description))")
            }
            if let problem = spec.check(value) {
                throw ConfigError(file: path, line: line, key: name, reason: problem)
            }
            values[name] = value
            explicit.insert(name)
        }
    }
}

private func article(_ noun: String) -> String {
    let vowels: Set<Character> = ["a", "e", "i", "o", "u"]
    return (noun.first.map { vowels.contains($0) } ?? false ? "an " : "a ") + noun
}

/// Finds the line on which a dotted key is set, by reading the file's table headers
/// and `key =` lines (TOMLKit reports positions only for syntax errors).
struct KeyLocator {
    private var lines: [String: Int] = [:]

    init(text: String) {
        var section = ""
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.drop { $0 == " " || $0 == "\t" }
            if line.hasPrefix("[") {
                let name = line.dropFirst().prefix { $0 != "]" }
                section = Self.normalise(name)
                if lines[section] == nil { lines[section] = index + 1 }
            } else if let equals = line.firstIndex(of: "="), !line.hasPrefix("#") {
                let key = Self.normalise(line[..<equals])
                let full = section.isEmpty ? key : "\(section).\(key)"
                if lines[full] == nil { lines[full] = index + 1 }
            }
        }
    }

    func line(of name: String) -> Int? { lines[name] }

    /// `"a" . b ` → `a.b`: quotes and spaces around dotted parts removed.
    private static func normalise(_ text: Substring) -> String {
        text.split(separator: ".").map { part in
            part.trimmingCharacters(in: " \t\"'")
        }.joined(separator: ".")
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

extension ConfigFile {
    /// Reads and checks the file at `path`. When `required` is false a missing file
    /// means "all defaults"; any other problem is an error.
    public static func load(path: String, schema: ConfigSchema, required: Bool) throws(ConfigError) -> ConfigFile {
        if !required, !AtomicFile.exists(path) { return ConfigFile(defaultsOf: schema) }
        let bytes: [UInt8]
        do throws(SystemError) {
            bytes = try AtomicFile.read(path, maxSize: maxSize)
        } catch {
            throw ConfigError(file: path, line: nil, key: nil, reason: "cannot read it: \(error)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(file: path, line: nil, key: nil, reason: "not UTF-8 text")
        }
        return try ConfigFile(parsing: text, path: path, schema: schema)
    }
}
