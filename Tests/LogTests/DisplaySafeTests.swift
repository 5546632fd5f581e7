import Testing

@testable import Log

@Suite struct DisplaySafeTests {
    @Test func aNewlineCannotForgeALogLine() {
        #expect(displaySafe("usbp2p/1\n<2>usbp2pd: forged") == "usbp2p/1\\u{a}<2>usbp2pd: forged")
    }

    @Test func terminalEscapesAndBidiOverridesAreShownNotObeyed() {
        #expect(displaySafe("\u{1B}[2Jdisk") == "\\u{1b}[2Jdisk")
        #expect(displaySafe("a\u{9B}b\u{7F}") == "a\\u{9b}b\\u{7f}")
        #expect(displaySafe("stick\u{202E}gpj.exe") == "stick\\u{202e}gpj.exe")
    }

    @Test func ordinaryTextPassesUnchanged() {
        #expect(displaySafe("SanDisk Cruzer Blade — 16 GB, Größe") == "SanDisk Cruzer Blade — 16 GB, Größe")
    }

    @Test func longTextIsCutWithANote() {
        let cut = displaySafe(String(repeating: "x", count: 70_000), maxLength: 10)
        #expect(cut == "xxxxxxxxxx…(69990 more)")
    }
}
