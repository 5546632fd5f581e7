/// Text from elsewhere (a peer's ALPN, a device's strings, a relay's reason) made safe for
/// one line of a log or a terminal: control characters (C0, DEL, C1, which include the
/// newline that would forge a journal line and the escape that starts a terminal
/// sequence) and Unicode's bidirectional overrides become visible `\u{…}` escapes, and
/// the text is cut at `maxLength` characters with a note of how much was left out.
public func displaySafe(_ text: some StringProtocol, maxLength: Int = 512) -> String {
    var result = ""
    var count = 0
    for scalar in text.unicodeScalars {
        if count == maxLength {
            result += "…(\(text.unicodeScalars.count - count) more)"
            break
        }
        count += 1
        if needsEscape(scalar) {
            result += "\\u{\(String(scalar.value, radix: 16))}"
        } else {
            result.unicodeScalars.append(scalar)
        }
    }
    return result
}

private func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x00...0x1F, 0x7F...0x9F: true  // C0 (newline, escape, ...), DEL, C1 (CSI 0x9B)
    case 0x202A...0x202E, 0x2066...0x2069: true  // bidirectional embeddings, overrides, isolates
    default: false
    }
}
