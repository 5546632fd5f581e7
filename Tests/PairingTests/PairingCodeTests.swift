import Testing

@testable import Identity

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

    @Test func hintsRideInTheURIAndParseBackEvenUpperCased() throws {
        let relayId = EndpointIdentity.generate().endpointId
        let hinted = PairingCode(
            server: code.server, secret: code.secret, hints: PairingHints(relay: "198.18.0.1:443", relayId: relayId))
        #expect(hinted.uri.hasPrefix(code.uri + "?relay=198.18.0.1:443&relay-id=\(relayId)&h="))
        #expect(try PairingCode(parsing: hinted.uri) == hinted)
        #expect(try PairingCode(parsing: hinted.uri.uppercased()) == hinted)  // as a QR code may give it
        // The text form carries no hints; it still pairs (with the client's own settings).
        #expect(hinted.description == code.description)
        let v6 = PairingCode(
            server: code.server, secret: code.secret, hints: PairingHints(relay: "[2001:DB8::1]:8443", relayId: nil))
        #expect(try PairingCode(parsing: v6.uri).hints == PairingHints(relay: "[2001:db8::1]:8443", relayId: nil))
    }

    @Test func aChangedOrCutHintFailsItsChecksum() throws {
        let hinted = PairingCode(
            server: code.server, secret: code.secret, hints: PairingHints(relay: "198.18.0.1:443", relayId: nil))
        let changed = hinted.uri.replacingOccurrences("198.18.0.1", "198.18.0.9")
        #expect(throws: PairingCodeError.hintsChecksumMismatch) { try PairingCode(parsing: changed) }
        #expect(throws: PairingCodeError.hintsChecksumMismatch) {
            try PairingCode(parsing: String(hinted.uri.dropLast()))
        }
        #expect(throws: PairingCodeError.badHints("no h= checksum after the hints")) {
            try PairingCode(parsing: code.uri + "?relay=198.18.0.1:443")
        }
    }

    @Test func hintsThatAreNotAddressesAreRefusedAndUnknownOnesIgnored() throws {
        func uri(_ query: String) -> String {
            code.uri + "?" + query + "&h="
                + PairingCode.hintsChecksum(
                    key: code.server.publicKey, secret: code.secret.bytes, query: Substring(query))
        }
        #expect(throws: PairingCodeError.badHints("relay 'relay.example:443' is not a numeric address and port")) {
            try PairingCode(parsing: uri("relay=relay.example:443"))
        }
        #expect(throws: PairingCodeError.badHints("relay '10.0.0.1:0' is not a numeric address and port")) {
            try PairingCode(parsing: uri("relay=10.0.0.1:0"))
        }
        #expect(throws: PairingCodeError.badHints("'relay' is not key=value")) {
            try PairingCode(parsing: uri("relay"))
        }
        #expect(throws: PairingCodeError.badHints("relay-id without relay")) {
            try PairingCode(parsing: uri("relay-id=\(code.server)"))
        }
        // A later version's hint is covered by h and otherwise left alone.
        let later = try PairingCode(parsing: uri("relay=10.0.0.1:443&room=kitchen"))
        #expect(later.hints == PairingHints(relay: "10.0.0.1:443", relayId: nil))
        #expect(PairingHints(relay: "10.0.0.1", relayId: nil) == nil)
        #expect(throws: PairingCodeError.badHints("the part after '?' is too long")) {
            try PairingCode(parsing: code.uri + "?" + String(repeating: "a", count: 600))
        }
    }

    @Test func anEndpointIdAloneIsNotAPairingCode() {
        #expect(throws: PairingCodeError.wrongLength(56)) { try PairingCode(parsing: code.server.description) }
    }
}

extension String {
    fileprivate func replacingDashes(with replacement: Character) -> String {
        String(map { $0 == "-" ? replacement : $0 })
    }

    fileprivate func replacingOccurrences(_ old: String, _ new: String) -> String {
        split(separator: old, omittingEmptySubsequences: false).joined(separator: new)
    }
}
