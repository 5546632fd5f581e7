import Testing

@testable import Config

@Suite struct ConfigChecksTests {
    @Test(arguments: ["127.0.0.1:3240", "0.0.0.0:1", "[::1]:3240", "[fe80::1]:9"])
    func acceptsNumericListenAddresses(text: String) {
        #expect(ConfigChecks.listenAddress(.string(text)) == nil)
    }

    @Test(arguments: ["localhost:3240", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "1.2.3:4", "[::1]", ""])
    func refusesOtherListenAddresses(text: String) {
        #expect(ConfigChecks.listenAddress(.string(text)) != nil)
    }

    @Test func cpuIsANumberOrMinusOne() {
        #expect(ConfigChecks.cpu(.integer(-1)) == nil)
        #expect(ConfigChecks.cpu(.integer(3)) == nil)
        #expect(ConfigChecks.cpu(.integer(-2)) != nil)
        #expect(ConfigChecks.cpu(.integer(5000)) != nil)
    }
}
