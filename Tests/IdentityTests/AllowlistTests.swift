import TestSupport
import Testing

@testable import Identity

@Suite struct AllowlistTests {
    let anna = EndpointIdentity.generate().endpointId
    let ben = EndpointIdentity.generate().endpointId

    @Test func entriesWithNamesCommentsAndBlankLinesParse() throws {
        let list = try Allowlist(parsing: "# comment\n\n\(anna)  Anna's laptop\n\t\(ben)\n", path: "a")
        #expect(
            list.entries == [.init(id: anna, name: "Anna's laptop", added: ""), .init(id: ben, name: "", added: "")])
        #expect(list.contains(anna) && list.contains(ben))
        #expect(!list.contains(EndpointIdentity.generate().endpointId))
    }

    @Test func aFileWithWindowsLineEndsKeepsEveryEntry() throws {
        let list = try Allowlist(parsing: "# edited on Windows\r\n\(anna)  Anna\r\n\r\n\(ben)\r\n", path: "a")
        #expect(list.entries == [.init(id: anna, name: "Anna", added: ""), .init(id: ben, name: "", added: "")])
    }

    @Test func aMistypedIdNamesTheFileAndLine() {
        var typo = Array(anna.description)
        typo[5] = typo[5] == "a" ? "b" : "a"
        #expect(throws: AllowlistError.badLine(path: "/x", line: 2, .checksumMismatch)) {
            try Allowlist(parsing: "\(ben)\n\(String(typo)) someone\n", path: "/x")
        }
    }

    @Test func savedListsLoadBackAndAMissingFileIsEmpty() throws {
        let directory = scratchDirectory()
        let path = directory + "/allowlist"
        #expect(try Allowlist.load(from: path) == Allowlist())
        var list = Allowlist()
        list.add(anna, name: "Anna\nwith a newline # and a hash")
        list.add(ben, name: "Ben")
        list.add(ben, name: "Ben's new laptop")
        try list.save(to: path)
        let loaded = try Allowlist.load(from: path)
        #expect(loaded == list)
        #expect(loaded.entries.map(\.name) == ["Anna with a newline   and a hash", "Ben's new laptop"])
        list.remove(anna)
        #expect(!list.contains(anna))
    }
}

extension AllowlistTests {
    @Test func theDateAnEntryWasAddedIsKeptAfterItsName() throws {
        var list = Allowlist()
        list.add(anna, name: "Anna's laptop", added: "2026-12-01")
        list.add(ben, name: "", added: "2026-12-02")
        let read = try Allowlist(parsing: list.text, path: "a")
        #expect(read.entries == list.entries)
        #expect(read.entries[0].name == "Anna's laptop" && read.entries[0].added == "2026-12-01")
        #expect(read.entries[1].name == "" && read.entries[1].added == "2026-12-02")
    }
}
