/// A TOML document as usbp2p reads it: tables of keys, each with the value it was given
/// and the line it was given on, so configuration errors can name the line.
enum TOMLValue: Equatable, Sendable {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case array([TOMLValue])
    case table(TOMLTable)
    /// `[[name]]` sections.
    case tableArray([TOMLTable])

    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .boolean: "a boolean"
        case .array: "an array"
        case .table: "a table"
        case .tableArray: "an array of tables"
        }
    }
}

/// A TOML table: keys in the order they were written.
struct TOMLTable: Equatable, Sendable {
    /// How the table came to exist, which decides what may still be added to it (TOML 1.0).
    enum Origin: Equatable, Sendable {
        /// Created as the parent of a header or of a dotted key, never defined itself.
        case implicit
        /// Defined by its own `[header]`: defining it again is an error.
        case header
        /// Defined by dotted keys (`a.b = 1` defines `a`): a header may not define it.
        case dottedKeys
        /// `{ ... }`: complete as written.
        case inline
    }

    struct Entry: Equatable, Sendable {
        var value: TOMLValue
        var line: Int
    }

    var origin: Origin
    private(set) var keys: [String] = []
    private(set) var entries: [String: Entry] = [:]

    init(origin: Origin) { self.origin = origin }

    subscript(key: String) -> Entry? {
        get { entries[key] }
        set {
            if entries[key] == nil, newValue != nil { keys.append(key) }
            entries[key] = newValue
        }
    }
}
