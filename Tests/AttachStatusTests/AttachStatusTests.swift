import AttachStatus
import Testing

@Suite struct AttachStatusTests {
    let status = AttachStatus(
        pid: 4242, server: "gue4jmr2bjchvcc7twql6cjarju7vb6jpzbouawzunp2xoy37dhhj4bn",
        path: "direct 198.18.1.2:7575 (hole-punched)", connected: true, roundTripMilliseconds: 12, bytesSent: 1 << 40,
        bytesReceived: 7, devices: [.init(busid: "1-1", port: 0), .init(busid: "3-2.4", port: 9)])

    @Test func aStatusRoundTripsThroughItsFile() throws {
        #expect(try AttachStatus(decoding: status.encoded) == status)
        var unmeasured = status
        unmeasured.roundTripMilliseconds = nil
        unmeasured.devices = []
        #expect(try AttachStatus(decoding: unmeasured.encoded) == unmeasured)
    }

    @Test func tabsAndLineBreaksInTextsCannotForgeLines() throws {
        var sneaky = status
        sneaky.path = "relay\nconnected\t0"
        let decoded = try AttachStatus(decoding: sneaky.encoded)
        #expect(decoded.path == "relay connected 0")
        #expect(decoded.connected)
    }

    @Test func malformedFilesAreRefusedWithTheLine() {
        let bad = [
            "", "usbp2p-status 2\n", "usbp2p-status 1\npid\t1\n",
            status.encoded + "pid\t5\n", status.encoded.replacingFirst("pid\t4242", with: "pid\tmany"),
            status.encoded + "device\t1-1\n", status.encoded + "device\t1-1\t-3\n",
            status.encoded.replacingFirst("connected\t1", with: "connected\tyes"), status.encoded + "lonely\n",
        ]
        for text in bad {
            #expect(throws: AttachStatusError.self) { try AttachStatus(decoding: text) }
        }
    }

    @Test func jsonQuotesEveryTextSafely() {
        #expect(AttachStatus.quote("a\"b\\c\nd\u{1}") == "\"a\\\"b\\\\c\\nd\\u0001\"")
        #expect(status.json.hasPrefix("{\"pid\":4242,\"server\":\"gue4"))
        #expect(status.json.contains("\"rtt_ms\":12"))
        #expect(status.json.contains("\"devices\":[{\"busid\":\"1-1\",\"port\":0},{\"busid\":\"3-2.4\",\"port\":9}]"))
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        let lines = split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let index = lines.firstIndex(of: target) else { return self }
        var changed = lines
        changed[index] = replacement
        return changed.joined(separator: "\n")
    }
}
