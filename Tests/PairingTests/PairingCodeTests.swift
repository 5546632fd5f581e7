import Identity
import Testing

@Suite struct PairingCodeTests {
    let code = PairingCode(server: EndpointIdentity.generate().endpointId, secret: .random())

    @Test func textAndURIFormsParseBackToTheSameCode() throws {
        #expect(try PairingCode(parsing: code.description) == code)
        #expect(try PairingCode(parsing: code.uri) == code)
        #expect(code.uri.hasPrefix("usbp2p://pair/"))
        #expect(code.description.split(separator: "-").allSatisfy { $0.count == 4 })
    }

    @Test func typedCodesMayUseCapitalsSpacesAndNoDashes() throws {
        let typed = code.description.uppercased().replacingDashes(with: " ")
        #expect(try PairingCode(parsing: "  " + typed + "\n") == code)
    }

    @Test func aMistypedCharacterFailsTheChecksum() {
        var symbols = Array(code.description)
        let position = symbols.firstIndex { $0 != "-" }!
        symbols[position] = symbols[position] == "a" ? "b" : "a"
        #expect(throws: PairingCodeError.checksumMismatch) { try PairingCode(parsing: String(symbols)) }
    }

    @Test func wrongLengthsAndCharactersSayWhatIsWrong() {
        #expect(throws: PairingCodeError.wrongLength(71)) { try PairingCode(parsing: String(code.uri.dropLast())) }
        #expect(throws: PairingCodeError.invalidCharacter("0", position: 1)) {
            try PairingCode(parsing: "0" + code.description.dropFirst())
        }
        #expect(throws: PairingCodeError.notAPairingURI) { try PairingCode(parsing: "usbp2p://attach/abc") }
        #expect(throws: PairingCodeError.wrongLength(0)) { try PairingCode(parsing: "") }
    }

    @Test func anEndpointIdAloneIsNotAPairingCode() {
        #expect(throws: PairingCodeError.wrongLength(56)) { try PairingCode(parsing: code.server.description) }
    }
}

extension String {
    fileprivate func replacingDashes(with replacement: Character) -> String {
        String(map { $0 == "-" ? replacement : $0 })
    }
}
