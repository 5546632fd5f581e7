import CQREncode

#if canImport(Glibc)
    import Glibc
#endif

/// A QR code's modules, made by libqrencode, and the two ways we show one: in a terminal
/// (two rows per line with half blocks) and as an SVG file for a label.
public struct QRCode: Equatable, Sendable {
    /// Modules per side.
    public let size: Int
    /// Row by row; true is dark.
    public let modules: [Bool]

    /// Encodes `text` at error correction level M (15% of the code may be damaged).
    /// Upper-case letters, digits and ":/" use the denser alphanumeric mode.
    public init?(encoding text: String) {
        guard let code = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1) else { return nil }
        defer { QRcode_free(code) }
        let width = Int(code.pointee.width)
        let data = UnsafeBufferPointer(start: code.pointee.data, count: width * width)
        size = width
        modules = data.map { $0 & 1 == 1 }
    }

    public func isDark(row: Int, column: Int) -> Bool {
        guard (0..<size).contains(row), (0..<size).contains(column) else { return false }
        return modules[row * size + column]
    }

    /// For a terminal with a dark background: light modules are drawn, dark ones are the
    /// background, two rows to a line, with a quiet zone of two modules.
    public var terminalText: String {
        let quiet = 2
        var lines: [String] = []
        for row in stride(from: -quiet, to: size + quiet, by: 2) {
            var line = ""
            for column in -quiet..<(size + quiet) {
                let top = !isDark(row: row, column: column)
                let bottom = !isDark(row: row + 1, column: column) && row + 1 < size + quiet
                line += top && bottom ? "█" : top ? "▀" : bottom ? "▄" : " "
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// An SVG image: the code with a quiet zone of four modules, `caption` lines under it.
    public func svg(moduleSize: Int = 8, caption: [String] = []) -> String {
        let quiet = 4
        let side = (size + 2 * quiet) * moduleSize
        let lineHeight = moduleSize * 2
        let height = side + caption.count * lineHeight + (caption.isEmpty ? 0 : moduleSize)
        var path = ""
        for row in 0..<size {
            for column in 0..<size where isDark(row: row, column: column) {
                path +=
                    "M\((column + quiet) * moduleSize) \((row + quiet) * moduleSize)h\(moduleSize)v\(moduleSize)h-\(moduleSize)z"
            }
        }
        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(side)" height="\(height)" viewBox="0 0 \(side) \(height)">
            <rect width="\(side)" height="\(height)" fill="#fff"/>
            <path fill="#000" d="\(path)"/>

            """
        for (index, line) in caption.enumerated() {
            let y = side + (index + 1) * lineHeight - moduleSize / 2
            svg +=
                "<text x=\"\(side / 2)\" y=\"\(y)\" font-family=\"monospace\" font-size=\"\(moduleSize * 3 / 2)\" "
                + "text-anchor=\"middle\">\(escapeXML(line))</text>\n"
        }
        return svg + "</svg>\n"
    }

    func escapeXML(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
