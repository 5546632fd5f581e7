import Testing

@testable import TerminalUI

@Suite struct ScreenTests {
    @Test func aLineIsCutToTheWidthAndItsStyleEndedWhereItIsCut() {
        #expect(Screen.fit("abcdef", columns: 4) == "abcd")
        #expect(Screen.fit("ab", columns: 4) == "ab")
        #expect(Screen.fit(Screen.bold("abcdef"), columns: 3) == "\u{1b}[1mabc\u{1b}[0m")
        #expect(Screen.fit("x" + Screen.inverse("yz"), columns: 10) == "x\u{1b}[7myz\u{1b}[0m")
        #expect(Screen.fit("abc", columns: 0) == "")
    }

    @Test func escapesOtherThanTheViewsOwnAreNotPassedToTheTerminal() {
        // (The server's names are escaped before they get here; this holds even if not.)
        #expect(!Screen.fit("a\u{1b}]0;title\u{7}b", columns: 40).contains("\u{1b}"))
    }

    @Test func aFrameDrawsFromTheTopClearsEachLineAndTheRestAndKeepsToTheRows() {
        let frame = Screen.frame(["one", "two", "three"], rows: 2, columns: 10)
        #expect(frame == "\u{1b}[Hone\u{1b}[K\r\ntwo\u{1b}[K\u{1b}[J")
    }

    @Test func keysAreDecodedFromWhatTheTerminalSends() {
        #expect(Terminal.decodeKey([0x1b, 0x5b, 0x41]) == (.up, 3))
        #expect(Terminal.decodeKey([0x1b, 0x4f, 0x42, 0x61]) == (.down, 3))
        #expect(Terminal.decodeKey([0x0d]) == (.enter, 1))
        #expect(Terminal.decodeKey([0x61]) == (.character("a"), 1))
        #expect(Terminal.decodeKey([0x03]) == (.character("\u{3}"), 1))
        #expect(Terminal.decodeKey([0x1b]) == (.other, 1))
        #expect(Terminal.decodeKey([0x1b, 0x5b, 0x43]) == (.other, 3))
        #expect(Terminal.decodeKey([0xc3, 0xa9]) == (.other, 1))
        #expect(Terminal.decodeKey([]) == (nil, 0))
    }
}
