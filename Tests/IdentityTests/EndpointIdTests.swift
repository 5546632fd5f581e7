import Sodium
import Testing

@testable import Identity

@Suite struct EndpointIdTests {
    static let id = EndpointIdentity(seed: [UInt8](repeating: 7, count: 32)).endpointId

    @Test func textIs56LowercaseBase32Characters() {
        let text = Self.id.description
        #expect(text.count == 56)
        #expect(text.allSatisfy { ("a"..."z").contains($0) || ("2"..."7").contains($0) })
    }

    @Test func textParsesBackToTheSameKey() throws {
        #expect(try EndpointId(parsing: Self.id.description) == Self.id)
    }

    @Test func uppercaseDashesAndSpacesAreAccepted() throws {
        let text = Self.id.description
        var grouped = ""
        for (i, c) in text.uppercased().enumerated() { grouped += (i > 0 && i % 8 == 0 ? "-" : "") + String(c) }
        #expect(try EndpointId(parsing: grouped) == Self.id)
        #expect(try EndpointId(parsing: " " + text + " ") == Self.id)
    }

    @Test func everySingleCharacterTypoIsCaught() {
        let text = Array(Self.id.description)
        for position in text.indices {
            for replacement in "abcdefghijklmnopqrstuvwxyz234567" where replacement != text[position] {
                var typo = text
                typo[position] = replacement
                #expect(throws: EndpointIdError.checksumMismatch) { try EndpointId(parsing: String(typo)) }
            }
        }
    }

    @Test func swappedNeighboursAreCaught() {
        let text = Array(Self.id.description)
        for i in 0..<(text.count - 1) where text[i] != text[i + 1] {
            var typo = text
            typo.swapAt(i, i + 1)
            #expect(throws: EndpointIdError.checksumMismatch) { try EndpointId(parsing: String(typo)) }
        }
    }

    @Test func wrongLengthSaysHowLong() {
        #expect(throws: EndpointIdError.wrongLength(55)) {
            try EndpointId(parsing: String(Self.id.description.dropLast()))
        }
        #expect(throws: EndpointIdError.wrongLength(0)) { try EndpointId(parsing: "") }
    }

    @Test func charactersOutsideTheAlphabetAreNamedWithTheirPosition() {
        var text = Self.id.description
        text.replaceSubrange(
            text.index(text.startIndex, offsetBy: 4)...text.index(text.startIndex, offsetBy: 4), with: "1")
        #expect(throws: EndpointIdError.invalidCharacter("1", position: 5)) { try EndpointId(parsing: text) }
        #expect(throws: EndpointIdError.invalidCharacter("é", position: 1)) { try EndpointId(parsing: "é") }
    }

    @Test func messagesSayWhatIsWrong() {
        #expect(EndpointIdError.checksumMismatch.description.contains("mistyped"))
        #expect(EndpointIdError.wrongLength(3).description.contains("56"))
    }

    @Test func base32MatchesRFC4648() {
        // RFC 4648 section 10: BASE32("fooba") = "MZXW6YTB".
        #expect(Base32.encode(Array("fooba".utf8)) == "mzxw6ytb")
        #expect(Base32.decode("mzxw6ytb".utf8.map { Base32.value(of: $0)! }) == Array("fooba".utf8))
    }
}
