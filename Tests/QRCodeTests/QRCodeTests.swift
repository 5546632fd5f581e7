import QRCode
import Testing

@Suite struct QRCodeTests {
    let uri = "USBP2P://PAIR/" + String(repeating: "ABCDEFGH234567XY", count: 4) + "ABCDEFGH"

    @Test func aPairingURIFitsASmallCodeWithFinderPatternsInItsCorners() throws {
        let code = try #require(QRCode(encoding: uri))
        // Version 4 (33 modules) or smaller at level M in alphanumeric mode.
        #expect(code.size <= 33)
        for (row, column) in [(0, 0), (0, code.size - 7), (code.size - 7, 0)] {
            // A finder pattern: a dark 7x7 ring around a light ring around a dark 3x3 core.
            #expect(code.isDark(row: row, column: column) && code.isDark(row: row + 6, column: column + 6))
            #expect(!code.isDark(row: row + 1, column: column + 1))
            #expect(code.isDark(row: row + 3, column: column + 3))
        }
    }

    @Test func theTerminalFormHasTwoRowsPerLineAndTheSVGOneRectPathAndTheCaption() throws {
        let code = try #require(QRCode(encoding: uri))
        let lines = code.terminalText.split(separator: "\n")
        #expect(lines.count == (code.size + 4 + 1) / 2)
        #expect(lines.allSatisfy { $0.count == code.size + 4 })
        let svg = code.svg(caption: ["usbp2p <pi>", "abcd-efgh"])
        #expect(svg.hasPrefix("<?xml"))
        #expect(svg.contains("usbp2p &lt;pi&gt;"))
        #expect(svg.hasSuffix("</svg>\n"))
    }
}
