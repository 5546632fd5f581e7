import FileSystem

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

    init(path: String, values: [String: ConfigValue], explicitKeys: Set<String>) {
        self.path = path
        self.values = values
        self.explicitKeys = explicitKeys
    }

    /// Parses and checks `text`, which was read from `path` (used in messages).
    public init(parsing text: String, path: String, schema: ConfigSchema) throws(ConfigError) {
        let table: TOMLTable
        do throws(TOMLParser.Error) {
            table = try TOMLParser.parse(text)
        } catch {
            throw ConfigError(
                file: path, line: error.line, key: nil,
                reason: "not valid TOML (column \(error.column)): \(error.message)")
        }
        var values = Dictionary(uniqueKeysWithValues: schema.keys.map { ($0.name, $0.defaultValue) })
        var explicit = Set<String>()
        try Self.collect(table, prefix: "", schema: schema, path: path, into: &values, explicit: &explicit)
        self.path = path
        self.values = values
        self.explicitKeys = explicit
    }

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

    public func string(_ key: String) -> String {
        guard case .string(let s) = values[key] else { preconditionFailure("no string key \(key) in schema") }
        return s
    }

    public func integer(_ key: String) -> Int {
        guard case .integer(let i) = values[key] else { preconditionFailure("no integer key \(key) in schema") }
        return i
    }

    public func strings(_ key: String) -> [String] {
        guard case .strings(let list) = values[key] else { preconditionFailure("no string array key \(key) in schema") }
        return list
    }

    public func boolean(_ key: String) -> Bool {
        guard case .boolean(let b) = values[key] else { preconditionFailure("no boolean key \(key) in schema") }
        return b
    }

    private static func collect(
        _ table: TOMLTable, prefix: String, schema: ConfigSchema, path: String,
        into values: inout [String: ConfigValue], explicit: inout Set<String>
    ) throws(ConfigError) {
        for key in table.keys {
            let entry = table[key]!
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            if case .table(let sub) = entry.value, schema.isSection(name) {
                try collect(sub, prefix: name, schema: schema, path: path, into: &values, explicit: &explicit)
                continue
            }
            guard let spec = schema.key(named: name) else {
                let hint = schema.suggestion(for: name).map { " (did you mean '\($0)'?)" } ?? ""
                throw ConfigError(file: path, line: entry.line, key: name, reason: "unknown key\(hint)")
            }
            let value: ConfigValue
            switch (spec.type, entry.value) {
            case (.string, .string(let s)): value = .string(s)
            case (.integer, .integer(let i)): value = .integer(i)
            case (.boolean, .boolean(let b)): value = .boolean(b)
            case (.strings, .array(let items)):
                var list: [String] = []
                for (index, item) in items.enumerated() {
                    guard case .string(let s) = item else {
                        throw ConfigError(
                            file: path, line: entry.line, key: name,
                            reason: "expected an array of strings, but item \(index + 1) is \(item.typeName)")
                    }
                    list.append(s)
                }
                value = .strings(list)
            default:
                throw ConfigError(
                    file: path, line: entry.line, key: name,
                    reason: "expected \(article(spec.type.rawValue)), found \(entry.value.typeName)")
            }
            if let problem = spec.check(value) {
                throw ConfigError(file: path, line: entry.line, key: name, reason: problem)
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
