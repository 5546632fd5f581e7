import LocalDiscovery
import TestSupport
import Testing

@Suite struct DNSMessageTests {
    let response = DNSMessage(
        id: 7, isResponse: true, questions: [DNSQuestion(name: MDNS.serviceType, type: DNSType.ptr)],
        answers: [
            DNSRecord(name: MDNS.serviceType, ttl: 10, data: .ptr("usbp2p-abc._usbp2p._tcp.local")),
            DNSRecord(
                name: "usbp2p-abc._usbp2p._tcp.local", ttl: 10,
                data: .srv(priority: 0, weight: 0, port: 7575, target: "usbp2p-abc.local")),
            DNSRecord(name: "usbp2p-abc._usbp2p._tcp.local", ttl: 10, data: .txt(["id=abc", "v=1"])),
        ],
        additional: [DNSRecord(name: "usbp2p-abc.local", ttl: 10, data: .a([10, 1, 0, 2]))])

    @Test func aResponseRoundTrips() throws {
        #expect(try DNSMessage(decoding: response.encoded) == response)
    }

    @Test func compressedNamesAreFollowedBackwards() throws {
        // A question for "_usbp2p._tcp.local" and a PTR whose target ends in a pointer to it.
        var bytes: [UInt8] = [0, 1, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0]
        bytes += [7] + Array("_usbp2p".utf8) + [4] + Array("_tcp".utf8) + [5] + Array("local".utf8) + [0]
        bytes += [0, 12, 0, 1]
        bytes += [0xC0, 12, 0, 12, 0, 1, 0, 0, 0, 10, 0, 6, 3] + Array("abc".utf8) + [0xC0, 12]
        let message = try DNSMessage(decoding: bytes)
        #expect(message.answers == [DNSRecord(name: MDNS.serviceType, ttl: 10, data: .ptr("abc._usbp2p._tcp.local"))])
    }

    @Test func pointerLoopsCutsAndImpossibleCountsAreRefused() {
        let header: [UInt8] = [0, 1, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        let bad: [[UInt8]] = [
            [0, 1, 0x84],
            header + [0xC0, 12, 0, 12, 0, 1],  // a name that points at itself
            header + [0xC0, 40, 0, 12, 0, 1],  // pointing forward
            header + [5, 97, 98],  // a label cut short
            header + [0x40, 0, 0, 12, 0, 1],  // an unknown label type
            [0, 1, 0x84, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0],  // 65535 questions in no bytes
            [0, 1, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 9, 1, 2],  // data past the end
            [0, 1, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 3, 1, 2, 3],  // A of 3 bytes
            // A TXT string that runs past its record.
            [0, 1, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 16, 0, 1, 0, 0, 0, 1, 0, 2, 5, 0],
            header + Array(repeating: 1, count: 300) + [0, 0, 12, 0, 1],  // a name over 255 bytes
            header + [2, 0xFF, 0xFE, 0, 0, 12, 0, 1],  // a label that is not UTF-8 (found by the fuzzer)
            header + [3, 97, 46, 98, 0, 0, 12, 0, 1],  // a label holding a dot
            // A TXT string that is not UTF-8.
            [0, 1, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 16, 0, 1, 0, 0, 0, 1, 0, 2, 1, 0xFF],
        ]
        for bytes in bad {
            #expect(throws: DNSError.self) { try DNSMessage(decoding: bytes) }
        }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var random = SplitMix64(seed: 6762)
        for _ in 0..<20_000 {
            var bytes = response.encoded
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &random)))
            _ = try? DNSMessage(decoding: bytes)
        }
    }
}
