import Testing

@testable import Config

@Suite struct KeyLocatorTests {
    @Test func findsKeysInTablesAndDottedForms() {
        let locator = KeyLocator(
            text: """
                # comment = not a key
                a = 1
                [t]
                  b = 2
                "c" . d = 3
                [ "u" ]
                e="x"
                """)
        #expect(locator.line(of: "a") == 2)
        #expect(locator.line(of: "t") == 3)
        #expect(locator.line(of: "t.b") == 4)
        #expect(locator.line(of: "t.c.d") == 5)
        #expect(locator.line(of: "u.e") == 7)
        #expect(locator.line(of: "comment") == nil)
    }
}
