import Testing

@testable import Config

/// The TOML subset parser, against the rules of the TOML 1.0 specification
/// (https://toml.io/en/v1.0.0), and against the inputs that made toml++ abort.
@Suite struct TOMLParserTests {
    func parse(_ text: String) throws(TOMLParser.Error) -> TOMLTable { try TOMLParser.parse(text) }

    func value(_ text: String, _ path: String...) throws -> TOMLValue? {
        var table = try parse(text)
        for key in path.dropLast() {
            guard case .table(let sub)? = table[key]?.value else { return nil }
            table = sub
        }
        return table[path.last!]?.value
    }

    @Test(arguments: [
        "[", "[[", "[ ", "[#x]", "[.a]", "[=]", "[\t\n", "a = 1\n\n[\n", "[[ .b]]", "[a", "[a b]", "[a]]",
        "a = 07:32", "a = 1979-05-27", "t = 1979-05-27T07:3", "a = 1.5", "a = inf", "a = nan", "a = 1e3",
        "a = ", "= 1", "a = \"x", "a = 'x", "a = \"\"\"x", "a = '''x", "a = [1, 2", "a = {b = 1", "a = {b = 1,}",
        "a = 01", "a = 1__0", "a = _1", "a = 1_", "a = 0x", "a = +0x10", "a = 9223372036854775808",
        "a = True", "a = truex", "a = \"\\q\"", "a = \"\\u12\"", "a = \"\\uD800\"", "a = 1 b = 2", "a.b = 1\na.b = 2",
        "a = 1\na = 2", "[t]\n[t]", "a = 1\n[a]", "[a]\nb = 1\n[a.b]", "a = {b = 1}\na.c = 2", "[[a]]\n[a]",
        "a = \"tab\u{01}\"", "# comment with \u{7F}",
    ])
    func malformedInputIsAnErrorNotACrash(text: String) {
        #expect(throws: TOMLParser.Error.self) { try parse(text) }
    }

    @Test func errorsCarryLineAndColumn() {
        #expect(
            throws: TOMLParser.Error(
                line: 3, column: 5, message: "expected a value: a string in quotes, a number, true, false, [ or {")
        ) {
            try parse("a = 1\n\nb = ?\n")
        }
        #expect(throws: TOMLParser.Error(line: 2, column: 1, message: "table 't' is defined more than once")) {
            try parse("[t]\n[t]\n")
        }
    }

    @Test func stringsInAllFourForms() throws {
        #expect(try value(#"a = "x\t\"y\" \u00e9 \U0001F600""#, "a") == .string("x\t\"y\" é 😀"))
        #expect(try value(#"a = 'C:\path\'"#, "a") == .string(#"C:\path\"#))
        #expect(try value("a = \"\"\"\nline1\nline2\"\"\"", "a") == .string("line1\nline2"))
        #expect(try value("a = \"\"\"one \\\n    two\"\"\"", "a") == .string("one two"))
        #expect(try value("a = '''\n[raw]\\n'''", "a") == .string("[raw]\\n"))
        #expect(try value("a = \"\"\"x\"\"\"\"\"", "a") == .string("x\"\""))
    }

    @Test func integersInEveryNotation() throws {
        for (text, expected) in [
            ("42", 42), ("+17", 17), ("-5", -5), ("0", 0), ("1_000", 1000), ("0xdead_beef", 0xdead_beef),
            ("0o755", 0o755), ("0b1101", 13), ("9223372036854775807", Int.max), ("-9223372036854775808", Int.min),
        ] {
            #expect(try value("a = \(text)", "a") == .integer(expected), "\(text)")
        }
    }

    @Test func booleansArraysAndInlineTables() throws {
        #expect(try value("a = true", "a") == .boolean(true))
        #expect(
            try value("a = [ 1, \"two\", [3], ] # mixed\n", "a")
                == .array([.integer(1), .string("two"), .array([.integer(3)])]))
        #expect(try value("a = [\n  1, # one\n  2\n]", "a") == .array([.integer(1), .integer(2)]))
        #expect(try value("p = { x = 1, y.z = 2 }", "p", "y", "z") == .integer(2))
    }

    @Test func dottedKeysAndHeadersBuildTheSameTables() throws {
        #expect(try value("a.b.c = 1", "a", "b", "c") == .integer(1))
        #expect(try value("[a.b]\nc = 1", "a", "b", "c") == .integer(1))
        #expect(try value("[ \"a\" . 'b' ]\nc = 1", "a", "b", "c") == .integer(1))
        #expect(try value("[x.y.z]\n[x]\nw = 1", "x", "w") == .integer(1))  // x was implicit: may be defined later
        #expect(
            try value(
                "[fruit]\napple.color = 'red'\n[fruit.apple.texture]\nsmooth = true", "fruit", "apple", "texture",
                "smooth") == .boolean(true))
    }

    @Test func arraysOfTablesAppend() throws {
        let table = try parse("[[dev]]\nid = 1\n[[dev]]\nid = 2\n[dev.opts]\nx = 3\n")
        guard case .tableArray(let list)? = table["dev"]?.value else {
            Issue.record("no array of tables")
            return
        }
        #expect(list.count == 2)
        #expect(list[1]["id"]?.value == .integer(2))
        guard case .table(let opts)? = list[1]["opts"]?.value else {
            Issue.record("no sub-table of the last element")
            return
        }
        #expect(opts["x"]?.value == .integer(3))
    }

    @Test func everyKeyKnowsItsLine() throws {
        let table = try parse("# head\n\na = 1\n[t]\n  b = 2\n")
        #expect(table["a"]?.line == 3)
        #expect(table["t"]?.line == 4)
        guard case .table(let t)? = table["t"]?.value else { return }
        #expect(t["b"]?.line == 5)
    }

    @Test func crlfLineEndingsAreAccepted() throws {
        #expect(try value("a = 1\r\n[t]\r\nb = \"x\"\r\n", "t", "b") == .string("x"))
    }

    @Test func nestingIsBounded() {
        let deep = "a = " + String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        #expect(throws: TOMLParser.Error.self) { try parse(deep) }
        let ok = "a = " + String(repeating: "[", count: 20) + String(repeating: "]", count: 20)
        #expect(throws: Never.self) { try parse(ok) }
    }
}
