import Secure
import Testing

@Suite struct WPAKeyTests {
    /// IEEE 802.11i-2004, annex H.4.2, the first test vector.
    @Test func theKeyIsTheStandardsTestVector() throws {
        let key = try #require(WPAKey.psk(passphrase: "password", ssid: "IEEE"))
        let hex = key.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(hex == "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e")
    }

    @Test func anEmptyPassphraseGivesNoKey() {
        #expect(WPAKey.psk(passphrase: "", ssid: "home") == nil)
    }
}
