import Identity
import Sockets
import Testing

@testable import Relay

@Suite struct RelayMessageTests {
    let id = EndpointIdentity.generate().endpointId

    func split(_ bytes: [UInt8]) -> (UInt8, [UInt8]) {
        (bytes[0], Array(bytes[3...]))
    }

    @Test func everyMessageRoundTrips() throws {
        let toEndpoint: [RelayToEndpoint] = [
            .challenge(nonce: Array(repeating: 1, count: 32), observed: "198.18.0.1:4000"), .accepted,
            .refused("no"), .incoming(token: Array(repeating: 2, count: 16), from: id), .pong,
        ]
        for message in toEndpoint {
            let (kind, payload) = split(message.encoded)
            #expect(try RelayToEndpoint(kind: kind, payload: payload) == message)
        }
        let toRelay: [EndpointToRelay] = [
            .register(.listen, id: id, signature: Array(repeating: 3, count: 64)),
            .register(.connect(target: id), id: id, signature: Array(repeating: 4, count: 64)),
            .register(
                .accept(token: Array(repeating: 5, count: 16)), id: id, signature: Array(repeating: 6, count: 64)),
            .ping,
        ]
        for message in toRelay {
            let (kind, payload) = split(message.encoded)
            #expect(try EndpointToRelay(kind: kind, payload: payload) == message)
        }
    }

    @Test func malformedMessagesAreRefused() {
        let bad: [(UInt8, [UInt8])] = [
            (0, []), (9, []), (1, [1]), (1, [1] + Array(repeating: 0, count: 96) + [1]),
            (1, [2] + Array(repeating: 0, count: 96 + 31)), (1, [7] + Array(repeating: 0, count: 96)), (2, [1]),
        ]
        for (kind, payload) in bad {
            #expect(throws: RelayMessageError.self) { try EndpointToRelay(kind: kind, payload: payload) }
        }
        for (kind, payload) in [
            (UInt8(1), [UInt8](repeating: 0, count: 31)), (2, [1]), (4, [1, 2]), (5, [0]), (0, []),
        ] {
            #expect(throws: RelayMessageError.self) { try RelayToEndpoint(kind: kind, payload: payload) }
        }
    }

    @Test func textThatIsNotUTF8OrTooLongIsRefusedNotMangled() {
        let nonce = [UInt8](repeating: 1, count: 32)
        #expect(throws: RelayMessageError.self) { try RelayToEndpoint(kind: 1, payload: nonce + [0xFF, 0xFE]) }
        #expect(throws: RelayMessageError.self) {
            try RelayToEndpoint(kind: 1, payload: nonce + Array(repeating: 0x31, count: 129))
        }
        #expect(throws: RelayMessageError.self) { try RelayToEndpoint(kind: 3, payload: [0x6E, 0xC3]) }
        // More than a frame holds (found by the fuzzer: it came back cut to 512 bytes).
        #expect(throws: RelayMessageError.self) {
            try RelayToEndpoint(kind: 3, payload: Array(repeating: 0x61, count: 513))
        }
    }

    @Test func aLongRefusalIsCutAtACharacterAndStillDecodes() throws {
        let reason = String(repeating: "é", count: 300)  // 600 bytes of 2-byte characters
        let (kind, payload) = split(RelayToEndpoint.refused(reason).encoded)
        #expect(payload.count == 512)
        guard case .refused(let cut) = try RelayToEndpoint(kind: kind, payload: payload) else {
            Issue.record("not a refusal")
            return
        }
        #expect(cut == String(repeating: "é", count: 256))
        let odd = String(repeating: "x", count: 1) + reason  // the cut would fall inside a character
        let (_, oddPayload) = split(RelayToEndpoint.refused(odd).encoded)
        #expect(oddPayload.count == 511 && (try? RelayToEndpoint(kind: 3, payload: oddPayload)) != nil)
    }

    @Test func anOversizedLengthIsRefusedBeforeReading() throws {
        let (a, b) = try Socket.pair()
        try a.writeAll([1, 0x02, 0x01])  // 513 bytes announced
        #expect(throws: RelayMessageError.self) { try RelayMessageReader.read(from: b) }
    }
}
