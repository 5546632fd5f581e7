/// A strict parser for the part of TOML 1.0 that configuration files use: comments;
/// bare, quoted and dotted keys; tables and arrays of tables; basic, literal and
/// multi-line strings; integers (decimal, 0x, 0o, 0b, with underscores); booleans;
/// arrays; inline tables. Floats, dates and times are refused by name: no usbp2p key
/// takes one.
///
/// Written here because the TOML library available (TOMLKit 0.6, wrapping toml++ 3.4.0)
/// aborts on malformed input, for instance a line holding only `[` or a truncated time,
/// and in release builds those assertions become compiler assumptions: a typo in a
/// configuration file must be an error message, never a crash (docs/architecture.md).
struct TOMLParser {
    struct Error: Swift.Error, Equatable {
        let line: Int
        let column: Int
        let message: String
    }

    /// Deepest nesting of arrays and inline tables accepted.
    static let maxDepth = 32

    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0

    private init(_ text: String) { bytes = Array(text.utf8) }

    static func parse(_ text: String) throws(Error) -> TOMLTable {
        var parser = TOMLParser(text)
        return try parser.document()
    }

    // MARK: Document

    private mutating func document() throws(Error) -> TOMLTable {
        var root = TOMLTable(origin: .header)
        var current: [PathStep] = []
        while true {
            skipBlanks()
            guard let c = peek else { break }
            switch c {
            case ascii("#"), ascii("\n"), ascii("\r"):
                try endOfLine()
            case ascii("["):
                let headerLine = line
                advance()
                let isArray = peek == ascii("[")
                if isArray { advance() }
                skipBlanks()
                let path = try dottedKey()
                skipBlanks()
                try expect("]", "expected ']' to close the table header")
                if isArray { try expect("]", "expected ']]' to close the array-of-tables header") }
                try endOfLine()
                var steps: [PathStep] = []
                try Self.define(path[...], asArray: isArray, line: headerLine, in: &root, steps: &steps) { message in
                    Error(line: headerLine, column: 1, message: message)
                }
                current = steps
            default:
                let keyLine = line
                let column = self.column
                let path = try dottedKey()
                skipBlanks()
                try expect("=", "expected '=' after the key")
                skipBlanks()
                let value = try self.value(depth: 0)
                try endOfLine()
                try Self.withTable(at: current[...], in: &root) { (table: inout TOMLTable) throws(Error) in
                    try Self.assign(path[...], value: value, line: keyLine, column: column, in: &table)
                }
            }
        }
        return root
    }

    /// One step of the path to the table that key/value lines go into.
    private enum PathStep {
        case table(String)
        case lastOf(String)  // the newest table of an array of tables
    }

    /// Defines the table of a `[path]` or `[[path]]` header under `table`, appending the
    /// steps that lead to it to `steps`.
    private static func define(
        _ path: ArraySlice<String>, asArray: Bool, line: Int, in table: inout TOMLTable, steps: inout [PathStep],
        error: (String) -> Error
    ) throws(Error) {
        let key = path.first!
        let name = key
        if path.count == 1 {
            switch table[key]?.value {
            case nil:
                if asArray {
                    table[key] = .init(value: .tableArray([TOMLTable(origin: .header)]), line: line)
                    steps.append(.lastOf(key))
                } else {
                    table[key] = .init(value: .table(TOMLTable(origin: .header)), line: line)
                    steps.append(.table(key))
                }
            case .table(var existing)? where !asArray && existing.origin == .implicit:
                existing.origin = .header
                table[key]!.value = .table(existing)
                steps.append(.table(key))
            case .tableArray(var list)? where asArray:
                list.append(TOMLTable(origin: .header))
                table[key]!.value = .tableArray(list)
                steps.append(.lastOf(key))
            case .table?:
                throw error("table '\(name)' is defined more than once")
            case let other?:
                throw error("'\(name)' is already \(other.typeName), it cannot also be a table")
            }
            return
        }
        switch table[key]?.value {
        case nil:
            var sub = TOMLTable(origin: .implicit)
            steps.append(.table(key))
            try define(path.dropFirst(), asArray: asArray, line: line, in: &sub, steps: &steps, error: error)
            table[key] = .init(value: .table(sub), line: line)
        case .table(var sub)? where sub.origin != .inline:
            steps.append(.table(key))
            try define(path.dropFirst(), asArray: asArray, line: line, in: &sub, steps: &steps, error: error)
            table[key]!.value = .table(sub)
        case .tableArray(var list)?:
            steps.append(.lastOf(key))
            try define(
                path.dropFirst(), asArray: asArray, line: line, in: &list[list.count - 1], steps: &steps, error: error)
            table[key]!.value = .tableArray(list)
        case let other?:
            throw error("'\(name)' is already \(other.typeName), it cannot also be a table")
        }
    }

    /// Runs `body` on the table that `path` leads to from `root`.
    private static func withTable(
        at path: ArraySlice<PathStep>, in table: inout TOMLTable, _ body: (inout TOMLTable) throws(Error) -> Void
    ) throws(Error) {
        guard let step = path.first else { return try body(&table) }
        switch step {
        case .table(let key):
            guard case .table(var sub)? = table[key]?.value else { preconditionFailure("path to a missing table") }
            try withTable(at: path.dropFirst(), in: &sub, body)
            table[key]!.value = .table(sub)
        case .lastOf(let key):
            guard case .tableArray(var list)? = table[key]?.value else {
                preconditionFailure("path to a missing array")
            }
            try withTable(at: path.dropFirst(), in: &list[list.count - 1], body)
            table[key]!.value = .tableArray(list)
        }
    }

    /// `a.b.c = value` inside `table`: `a` and `b` become tables defined by dotted keys.
    private static func assign(
        _ path: ArraySlice<String>, value: TOMLValue, line: Int, column: Int, in table: inout TOMLTable
    ) throws(Error) {
        let key = path.first!
        if path.count == 1 {
            guard table[key] == nil else {
                throw Error(line: line, column: column, message: "key '\(key)' is defined more than once")
            }
            table[key] = .init(value: value, line: line)
            return
        }
        switch table[key]?.value {
        case nil:
            var sub = TOMLTable(origin: .dottedKeys)
            try assign(path.dropFirst(), value: value, line: line, column: column, in: &sub)
            table[key] = .init(value: .table(sub), line: line)
        case .table(var sub)? where sub.origin == .dottedKeys || sub.origin == .implicit:
            try assign(path.dropFirst(), value: value, line: line, column: column, in: &sub)
            table[key]!.value = .table(sub)
        case let other?:
            throw Error(
                line: line, column: column,
                message: "'\(key)' is already \(other.typeName) defined elsewhere; a dotted key cannot add to it")
        }
    }

    // MARK: Keys

    private mutating func dottedKey() throws(Error) -> [String] {
        var parts = [try simpleKey()]
        while true {
            let save = (index, line, lineStart)
            skipBlanks()
            guard peek == ascii(".") else {
                (index, line, lineStart) = save
                return parts
            }
            advance()
            skipBlanks()
            parts.append(try simpleKey())
        }
    }

    private mutating func simpleKey() throws(Error) -> String {
        switch peek {
        case ascii("\"")?: return try basicString()
        case ascii("'")?: return try literalString()
        default:
            let start = index
            while let c = peek, isBareKeyCharacter(c) { advance() }
            guard index > start else {
                throw error(
                    peek == nil
                        ? "expected a key, found the end of the file"
                        : "expected a key (letters, digits, '_', '-', or a quoted name)")
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }
    }

    // MARK: Values

    private mutating func value(depth: Int) throws(Error) -> TOMLValue {
        guard depth < Self.maxDepth else {
            throw error("arrays and inline tables nested more than \(Self.maxDepth) deep")
        }
        guard let c = peek else { throw error("expected a value, found the end of the file") }
        switch c {
        case ascii("\""):
            return .string(starts("\"\"\"") ? try multiLineBasicString() : try basicString())
        case ascii("'"):
            return .string(starts("'''") ? try multiLineLiteralString() : try literalString())
        case ascii("["):
            return try array(depth: depth)
        case ascii("{"):
            return try inlineTable(depth: depth)
        case ascii("t"), ascii("f"):
            for (word, value) in [("true", true), ("false", false)] where starts(word) {
                index += word.utf8.count
                try expectDelimiter()
                return .boolean(value)
            }
            throw error("expected a value (true and false are written in lower case)")
        default:
            return try number()
        }
    }

    private mutating func array(depth: Int) throws(Error) -> TOMLValue {
        advance()  // [
        var elements: [TOMLValue] = []
        while true {
            try skipBlanksNewlinesAndComments()
            if peek == ascii("]") { break }
            elements.append(try value(depth: depth + 1))
            try skipBlanksNewlinesAndComments()
            if peek == ascii(",") {
                advance()
                continue
            }
            guard peek == ascii("]") else { throw error("expected ',' or ']' in the array") }
            break
        }
        advance()  // ]
        return .array(elements)
    }

    private mutating func inlineTable(depth: Int) throws(Error) -> TOMLValue {
        advance()  // {
        var table = TOMLTable(origin: .inline)
        skipBlanks()
        if peek == ascii("}") {
            advance()
            return .table(table)
        }
        while true {
            skipBlanks()
            let keyLine = line
            let column = self.column
            let path = try dottedKey()
            skipBlanks()
            try expect("=", "expected '=' after the key")
            skipBlanks()
            let value = try self.value(depth: depth + 1)
            try Self.assign(path[...], value: value, line: keyLine, column: column, in: &table)
            skipBlanks()
            if peek == ascii(",") {
                advance()
                continue
            }
            guard peek == ascii("}") else {
                throw error("expected ',' or '}' in the inline table (inline tables stay on one line)")
            }
            advance()
            return .table(table)
        }
    }

    private mutating func number() throws(Error) -> TOMLValue {
        let start = index
        let startColumn = column
        while let c = peek, isBareKeyCharacter(c) || c == ascii("+") || c == ascii(".") || c == ascii(":") {
            advance()
        }
        let token = String(decoding: bytes[start..<index], as: UTF8.self)
        guard !token.isEmpty else { throw error("expected a value: a string in quotes, a number, true, false, [ or {") }
        func fail(_ message: String) -> Error { Error(line: line, column: startColumn, message: message) }
        if token.contains(":") || token.dropFirst().contains("-") && token.first?.isNumber == true {
            throw fail("dates and times are not used in usbp2p configuration files (got \(token))")
        }
        let unsigned = token.hasPrefix("+") || token.hasPrefix("-") ? token.dropFirst() : token[...]
        let lower = unsigned.lowercased()
        if lower == "inf" || lower == "nan"
            || (!lower.hasPrefix("0x") && (lower.contains(".") || lower.contains("e")))
        {
            throw fail("floating-point numbers are not used in usbp2p configuration files (got \(token))")
        }
        if Self.integer(token) == nil, !unsigned.isEmpty,
            unsigned.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "_") })
        {
            throw fail("integer \(token) is out of range or badly written (-2^63...2^63-1, no leading zeros)")
        }
        guard let integer = Self.integer(token) else {
            throw fail("'\(token)' is not a value: strings need quotes, integers are written like 42, 0x2a or 1_000")
        }
        try expectDelimiter()
        return .integer(integer)
    }

    /// A TOML integer: optional sign, no leading zeros, single underscores between
    /// digits; or 0x/0o/0b with no sign. nil if malformed or out of 64-bit range.
    static func integer(_ token: String) -> Int? {
        var text = Substring(token)
        var radix = 10
        var negative = false
        for (prefix, r) in [("0x", 16), ("0o", 8), ("0b", 2)] where text.hasPrefix(prefix) {
            radix = r
            text = text.dropFirst(2)
        }
        if radix == 10, let sign = text.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            text = text.dropFirst()
        }
        guard let first = text.first, first != "_", text.last != "_", !text.contains("__") else { return nil }
        if radix == 10, first == "0", text.count > 1 { return nil }
        let digits = text.filter { $0 != "_" }
        guard let magnitude = UInt64(digits, radix: radix) else { return nil }
        if negative {
            return magnitude <= UInt64(Int.max) + 1 ? Int(truncatingIfNeeded: 0 &- magnitude) : nil
        }
        return magnitude <= UInt64(Int.max) ? Int(magnitude) : nil
    }

    // MARK: Strings

    private mutating func basicString() throws(Error) -> String {
        advance()  // "
        var out: [UInt8] = []
        while true {
            guard let c = peek, c != ascii("\n") else { throw error("a string in double quotes must end on its line") }
            advance()
            switch c {
            case ascii("\""): return String(decoding: out, as: UTF8.self)
            case ascii("\\"): try escape(into: &out)
            default:
                try checkStringCharacter(c)
                out.append(c)
            }
        }
    }

    private mutating func literalString() throws(Error) -> String {
        advance()  // '
        let start = index
        while let c = peek, c != ascii("'") {
            guard c != ascii("\n") else { throw error("a string in single quotes must end on its line") }
            try checkStringCharacter(c)
            advance()
        }
        guard peek != nil else { throw error("a string in single quotes must end on its line") }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        advance()
        return text
    }

    private mutating func multiLineBasicString() throws(Error) -> String {
        index += 3
        skipOneNewline()
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw error("a string in triple quotes must be closed with \"\"\"") }
            if let text = closeMultiLine(quote: ascii("\""), content: &out) { return text }
            advance()
            if c == ascii("\\") {
                // A backslash at the end of a line joins it with the next non-blank text.
                var k = index
                while k < bytes.count, bytes[k] == ascii(" ") || bytes[k] == ascii("\t") { k += 1 }
                if k < bytes.count, bytes[k] == ascii("\n") || bytes[k] == ascii("\r") {
                    index = k
                    while let w = peek, w == ascii(" ") || w == ascii("\t") || w == ascii("\n") || w == ascii("\r") {
                        if w == ascii("\n") { newLine() } else { advance() }
                    }
                    continue
                }
                try escape(into: &out)
            } else if c == ascii("\n") {
                line += 1
                lineStart = index
                out.append(c)
            } else {
                if c != ascii("\r") { try checkStringCharacter(c) }
                out.append(c)
            }
        }
    }

    private mutating func multiLineLiteralString() throws(Error) -> String {
        index += 3
        skipOneNewline()
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw error("a string in triple single quotes must be closed with '''") }
            if let text = closeMultiLine(quote: ascii("'"), content: &out) { return text }
            if c == ascii("\n") {
                newLine()
            } else {
                if c != ascii("\r") { try checkStringCharacter(c) }
                advance()
            }
            out.append(c)
        }
    }

    /// At three `quote`s: consumes the closing delimiter and returns the string; up to two
    /// more quotes belong to the string (three quotes, a, five quotes is a and two quotes).
    /// nil anywhere else.
    private mutating func closeMultiLine(quote: UInt8, content out: inout [UInt8]) -> String? {
        guard index + 3 <= bytes.count, bytes[index..<index + 3].allSatisfy({ $0 == quote }) else { return nil }
        index += 3
        for _ in 0..<2 where peek == quote {
            out.append(quote)
            advance()
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func escape(into out: inout [UInt8]) throws(Error) {
        guard let e = peek else { throw error("a string ends in the middle of an escape") }
        advance()
        switch e {
        case ascii("b"): out.append(0x08)
        case ascii("t"): out.append(0x09)
        case ascii("n"): out.append(0x0A)
        case ascii("f"): out.append(0x0C)
        case ascii("r"): out.append(0x0D)
        case ascii("\""): out.append(ascii("\""))
        case ascii("\\"): out.append(ascii("\\"))
        case ascii("u"), ascii("U"):
            let count = e == ascii("u") ? 4 : 8
            guard index + count <= bytes.count,
                let code = UInt32(String(decoding: bytes[index..<index + count], as: UTF8.self), radix: 16),
                let scalar = Unicode.Scalar(code)
            else {
                throw error(
                    "\\\(Character(Unicode.Scalar(e))) must be followed by \(count) hex digits of a Unicode scalar")
            }
            index += count
            out.append(contentsOf: String(Character(scalar)).utf8)
        default:
            throw error(
                "unknown escape '\\\(Character(Unicode.Scalar(e)))' (valid: \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX)")
        }
    }

    private func checkStringCharacter(_ c: UInt8) throws(Error) {
        if c < 0x20 && c != ascii("\t") || c == 0x7F {
            throw error("control characters must be written as escapes in strings")
        }
    }

    // MARK: Lexical helpers

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }
    private var column: Int { index - lineStart + 1 }
    private mutating func advance() { index += 1 }

    private mutating func newLine() {
        index += 1
        line += 1
        lineStart = index
    }

    private func starts(_ text: String) -> Bool {
        let p = Array(text.utf8)
        return index + p.count <= bytes.count && bytes[index..<index + p.count].elementsEqual(p)
    }

    private mutating func skipBlanks() {
        while let c = peek, c == ascii(" ") || c == ascii("\t") { advance() }
    }

    private mutating func skipOneNewline() {
        if starts("\r\n") { index += 1 }
        if peek == ascii("\n") { newLine() }
    }

    private mutating func skipComment() throws(Error) {
        while let c = peek, c != ascii("\n") {
            if c != ascii("\t"), c < 0x20 && c != ascii("\r") || c == 0x7F {
                throw error("control characters are not allowed in comments")
            }
            advance()
        }
    }

    private mutating func skipBlanksNewlinesAndComments() throws(Error) {
        while let c = peek {
            switch c {
            case ascii(" "), ascii("\t"), ascii("\r"): advance()
            case ascii("\n"): newLine()
            case ascii("#"): try skipComment()
            default: return
            }
        }
    }

    /// Blanks, an optional comment, then a newline or the end of the file.
    private mutating func endOfLine() throws(Error) {
        skipBlanks()
        if peek == ascii("#") { try skipComment() }
        if starts("\r\n") { advance() }
        guard let c = peek else { return }
        guard c == ascii("\n") else { throw error("unexpected text after the value; one key = value per line") }
        newLine()
    }

    private mutating func expect(_ text: String, _ message: String) throws(Error) {
        guard starts(text) else { throw error(message) }
        index += text.utf8.count
    }

    /// After a bare value (number, boolean) comes a blank, comma, bracket, comment or newline.
    private func expectDelimiter() throws(Error) {
        guard let c = peek else { return }
        let delimiters: [UInt8] = [
            ascii(" "), ascii("\t"), ascii("\r"), ascii("\n"), ascii(","), ascii("]"), ascii("}"), ascii("#"),
        ]
        guard delimiters.contains(c) else { throw error("unexpected character after the value") }
    }

    private func error(_ message: String) -> Error { Error(line: line, column: column, message: message) }

    private func isBareKeyCharacter(_ c: UInt8) -> Bool {
        (ascii("A")...ascii("Z")).contains(c) || (ascii("a")...ascii("z")).contains(c)
            || (ascii("0")...ascii("9")).contains(c) || c == ascii("_") || c == ascii("-")
    }
}

private func ascii(_ s: Unicode.Scalar) -> UInt8 { UInt8(ascii: s) }
