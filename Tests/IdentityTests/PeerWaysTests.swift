import Identity
import TestSupport
import Testing

@Suite struct PeerWaysTests {
    let server = EndpointIdentity.generate().endpointId
    let relayId = EndpointIdentity.generate().endpointId

    @Test func waysSaveAndLoadBack() throws {
        var ways = PeerWays()
        ways[server] = .init(
            relay: "198.18.0.1:443", relayId: relayId, direct: ["10.1.0.2:7575", "[2001:db8::2]:7575"])
        let path = scratchDirectory("ways") + "/state/ways"
        try ways.save(to: path)
        #expect(try PeerWays.load(from: path) == ways)
        #expect(try PeerWays.load(from: path + ".missing") == PeerWays())
    }

    @Test func onlyNumericAddressesAreKeptAndAtMostEightDirectOnes() {
        var ways = PeerWays()
        ways[server] = .init(
            relay: "relay.example:443", direct: ["host.example:1"] + (1...10).map { "10.0.0.\($0):7575" })
        #expect(ways[server]?.relay == nil)
        #expect(ways[server]?.direct == (1...8).map { "10.0.0.\($0):7575" })
        ways[server] = nil
        #expect(ways[server] == nil)
    }

    @Test func aBadLineSaysWhereAndWhat() {
        let cases: [(String, String)] = [
            ("\(server) relay=10.0.0.1", "relay '10.0.0.1' is not a numeric address and port"),
            ("\(server) relay", "'relay' is not key=value"),
            ("\(server) colour=blue", "unknown key 'colour' (relay, relay-id, direct)"),
            ("\(server) direct=10.0.0.1:1,x:2", "direct 'x:2' is not a numeric address and port"),
        ]
        for (line, why) in cases {
            #expect(throws: PeerWaysError.badLine(path: "ways", line: 2, why)) {
                try PeerWays(parsing: "# header\r\n" + line + "\r\n", path: "ways")
            }
        }
        #expect(throws: PeerWaysError.self) { try PeerWays(parsing: "nonsense relay=10.0.0.1:1", path: "ways") }
    }
}
