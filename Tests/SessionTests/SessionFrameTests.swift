import Identity
import Sockets
import Testing

@testable import Session

@Suite struct SessionFrameTests {
    let samples: [SessionFrame] = [
        SessionHello(resume: true, sessionId: Array(1...16), receivedThrough: 77).frame,
        SessionFrame(
            kind: .data, channel: 3, number: 9, payload: Array(repeating: 0xab, count: SessionFrame.maxPayload)),
        SessionFrame(kind: .data, flags: SessionFrame.finFlag, channel: 3, number: 10),
        SessionFrame(kind: .data, channel: 0, number: 11, payload: ControlMessage.open(channel: 4).encoded),
        SessionFrame(kind: .ack, number: 11),
        SessionFrame(kind: .credit, channel: 3, number: 1 << 40),
        SessionFrame(kind: .ping, number: 123_456_789),
        SessionFrame(kind: .pong, number: 123_456_789),
    ]

    @Test func everyFrameRoundTripsFedAllAtOnceAndByteByByte() throws {
        var whole = SessionFrameDecoder()
        whole.append(samples.flatMap(\.encoded)[...])
        for sample in samples { #expect(try whole.next() == sample) }
        #expect(try whole.next() == nil)

        var trickle = SessionFrameDecoder()
        var decoded: [SessionFrame] = []
        for byte in samples.flatMap(\.encoded) {
            trickle.append([byte][...])
            while let frame = try trickle.next() { decoded.append(frame) }
        }
        #expect(decoded == samples)
        #expect(trickle.bufferedByteCount == 0)
    }

    @Test func readsStraightFromAStreamDecodeEveryFrameAcrossManyBufferfuls() throws {
        // The smallest buffer (two whole frames): the unread part of a frame moves to the
        // front again and again, and reads land after it.
        let (writer, reader) = try Socket.pair()
        defer {
            writer.close()
            reader.close()
        }
        let frames = (1...300).map { n in
            SessionFrame(
                kind: .data, channel: UInt16(n % 7 + 1), number: UInt64(n),
                payload: (0..<[1, 77, 4096, SessionFrame.maxPayload][n % 4]).map { UInt8(truncatingIfNeeded: $0 &* n) })
        }
        let bytes = frames.flatMap(\.encoded)
        var decoder = SessionFrameDecoder(capacity: 0)
        var decoded: [SessionFrame] = []
        var sent = 0
        var received = 0
        while sent < bytes.count {
            let chunk = min(5003, bytes.count - sent)
            try writer.writeAll(bytes[sent..<(sent + chunk)])
            sent += chunk
            while received < sent {
                received += try decoder.read(from: reader)
                while let frame = try decoder.next() { decoded.append(frame) }
            }
        }
        #expect(decoded == frames)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func aPayloadKeptPastTheNextReadKeepsItsBytes() throws {
        // A payload is a slice of the decoder's buffer; bytes read over the same place
        // afterwards must not change it.
        var decoder = SessionFrameDecoder(capacity: 0)
        let first = SessionFrame(kind: .data, channel: 1, number: 1, payload: Array(repeating: 0xaa, count: 9000))
        decoder.append(first.encoded)
        let kept = try #require(try decoder.next())
        let second = SessionFrame(kind: .data, channel: 1, number: 2, payload: Array(repeating: 0x55, count: 9000))
        decoder.append(second.encoded)
        #expect(try decoder.next() == second)
        #expect(kept == first)
    }

    @Test func anOversizedLengthIsRefusedBeforeItsPayloadArrives() {
        var decoder = SessionFrameDecoder()
        decoder.append([2, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1][...])
        #expect(throws: SessionFrameError.oversized(length: 0x7fff_ffff)) { try decoder.next() }
    }

    @Test func unknownKindsAndMalformedFramesAreRefused() {
        func decode(_ frame: [UInt8]) throws -> SessionFrame? {
            var decoder = SessionFrameDecoder()
            decoder.append(frame[...])
            return try decoder.next()
        }
        #expect(throws: SessionFrameError.unknownKind(0)) { try decode(Array(repeating: 0, count: 16)) }
        #expect(throws: SessionFrameError.unknownKind(9)) { try decode([9] + Array(repeating: 0, count: 15)) }
        // A data frame numbered 0, an empty data frame, an ack with a payload, a short hello.
        let bad: [SessionFrame] = [
            SessionFrame(kind: .data, channel: 1, number: 0, payload: [1]),
            SessionFrame(kind: .data, channel: 1, number: 1),
            SessionFrame(kind: .ack, number: 1, payload: [1]),
            SessionFrame(kind: .hello, payload: [0, 1]),
            SessionFrame(kind: .data, flags: SessionFrame.finFlag, channel: 0, number: 1),
        ]
        for frame in bad {
            #expect(throws: SessionFrameError.self) { try decode(frame.encoded) }
        }
    }

    @Test func aTruncatedFrameWaitsForTheRest() throws {
        let bytes = samples[1].encoded
        for cut in [0, 1, 15, 16, bytes.count - 1] {
            var decoder = SessionFrameDecoder()
            decoder.append(bytes[0..<cut])
            #expect(try decoder.next() == nil)
        }
    }

    @Test func helloCarriesVersionResumeIdAndReceivedCount() throws {
        let hello = SessionHello(resume: true, sessionId: Array(repeating: 7, count: 16), receivedThrough: 42)
        #expect(try SessionHello(hello.frame) == hello)
        var wrongFlags = hello.frame
        wrongFlags.payload[2] = 2
        #expect(throws: SessionFrameError.self) { try SessionHello(wrongFlags) }
    }

    @Test func controlMessagesRoundTripAndBadOnesAreRefused() throws {
        let messages: [ControlMessage] = [
            .open(channel: 1), .refused(channel: 65535, reason: "busy"), .devicesChanged, .goodbye(reason: "bye"),
        ]
        for message in messages { #expect(try ControlMessage(decoding: message.encoded) == message) }
        // The last two: texts that are not UTF-8 (found by the fuzzer: decoded with
        // replacement characters they did not survive being sent again).
        for bad: [UInt8] in [[], [0], [1, 0], [1, 0, 0], [1, 0, 1, 9], [3, 3], [9], [2, 0, 1, 0xFF], [4, 0xC3]] {
            #expect(throws: SessionFrameError.self) { try ControlMessage(decoding: bad) }
        }
    }

    @Test func pathMessagesCarryIPv4AndIPv6EndpointsAndRefuseMalformedLists() throws {
        let endpoints = [
            Endpoint(host: "198.18.1.2", port: 7575), Endpoint(host: "10.1.0.2", port: 1),
            Endpoint(host: "2001:db8::1", port: 65535),
        ]
        let messages: [ControlMessage] = [.addresses(endpoints), .punch(endpoints), .punch([]), .sync]
        for message in messages { #expect(try ControlMessage(decoding: message.encoded) == message) }
        // Host names are not sent, and at most 16 endpoints.
        #expect(ControlMessage.addresses([Endpoint(host: "pi.local", port: 7575)]).encoded == [5, 0])
        let many = (1...40).map { Endpoint(host: "10.0.0.\($0)", port: 7575) }
        #expect(try ControlMessage(decoding: ControlMessage.addresses(many).encoded) == .addresses(Array(many[0..<16])))
        let bad: [[UInt8]] = [
            [5], [6, 1], [5, 1, 5, 1, 2, 3, 4, 0, 1], [5, 1, 4, 1, 2, 3, 4, 0, 0], [5, 1, 4, 1, 2, 3, 4, 0],
            [5, 0, 9], [5, 17] + Array(repeating: 0, count: 17 * 7), [7, 0],
        ]
        for bytes in bad {
            #expect(throws: SessionFrameError.self) { try ControlMessage(decoding: bytes) }
        }
    }
}

extension SessionFrameTests {
    @Test func deviceNamesRoundTripAreBoundedAndBadOnesAreRefused() throws {
        let names = [DeviceName(busid: "1-1.2", name: "SanDisk Ultra")!, DeviceName(busid: "3-1", name: "")!]
        #expect(try ControlMessage(decoding: ControlMessage.deviceNames(names).encoded) == .deviceNames(names))
        #expect(DeviceName(busid: "1-1; rm", name: "x") == nil)
        #expect(DeviceName(busid: "1-1", name: "tab\there")?.name == "tab here")
        #expect(DeviceName(busid: "1-1", name: String(repeating: "é", count: 100))?.name.utf8.count == 126)
        let many = (1...80).map { DeviceName(busid: "1-\($0)", name: "d")! }
        #expect(
            try ControlMessage(decoding: ControlMessage.deviceNames(many).encoded) == .deviceNames(Array(many[0..<64])))
        let bad: [[UInt8]] = [
            [8], [8, 65], [8, 1], [8, 1, 3, 49, 45, 49], [8, 1, 3, 49, 45, 49, 1], [8, 1, 2, 65, 66, 0],
            [8, 1, 3, 49, 45, 49, 2, 0xFF, 0xFE], [8, 0, 0],
            [8, 1, 3, 49, 45, 49, 200] + [UInt8](repeating: 65, count: 200),
        ]
        for bytes in bad {
            #expect(throws: SessionFrameError.self, "\(bytes.prefix(8))") { try ControlMessage(decoding: bytes) }
        }
    }
}

extension SessionFrameTests {
    @Test func sharingRequestsAndResultsRoundTripAndBadOnesAreRefused() throws {
        let ben = EndpointIdentity.generate().endpointId
        let messages: [ControlMessage] = [
            .sharing(share: true, busid: "1-1.2", laptops: []), .sharing(share: true, busid: "3-1", laptops: [ben]),
            .sharing(share: false, busid: "1-1", laptops: []), .sharingResult(ok: true, text: "shared 1-1"),
            .sharingResult(ok: false, text: ""),
        ]
        for message in messages { #expect(try ControlMessage(decoding: message.encoded) == message) }
        let many = Array(repeating: ben, count: 20)
        #expect(
            try ControlMessage(decoding: ControlMessage.sharing(share: true, busid: "1-1", laptops: many).encoded)
                == .sharing(share: true, busid: "1-1", laptops: Array(many[0..<16])))
        let key = ben.publicKey
        let bad: [[UInt8]] = [
            [9], [9, 3, 3, 49, 45, 49, 0], [9, 1, 0, 0], [9, 1, 3, 49, 45, 49], [9, 1, 3, 65, 66, 67, 0],
            [9, 1, 3, 49, 45, 49, 17], [9, 1, 3, 49, 45, 49, 1] + key.dropLast(), [9, 1, 3, 49, 45, 49, 0, 7],
            [9, 2, 3, 49, 45, 49, 1] + key, [10], [10, 2], [10, 1, 0xFF],
        ]
        for bytes in bad {
            #expect(throws: SessionFrameError.self, "\(bytes.prefix(8))") { try ControlMessage(decoding: bytes) }
        }
    }
}

extension SessionFrameTests {
    @Test func auditRequestsAndPartsRoundTripAndBadOnesAreRefused() throws {
        let line = #"{"event":"shared","peer":"5vzb","time":"2026-12-03T10:07:21.296Z"}"#
        let messages: [ControlMessage] = [
            .auditRequest(since: ""), .auditRequest(since: "30m"), .auditRequest(since: "2026-12-03T10:00"),
            .auditPart(last: false, refused: false, text: line), .auditPart(last: true, refused: false, text: ""),
            .auditPart(last: true, refused: true, text: "only the server's owner may read its audit log"),
            .auditPart(last: false, refused: false, text: String(repeating: "é", count: 2048)),
        ]
        for message in messages { #expect(try ControlMessage(decoding: message.encoded) == message) }
        let bad: [[UInt8]] = [
            [11] + [UInt8](repeating: 55, count: 65), [11, 0xC3], [12], [12, 4], [12, 2, 65], [12, 255],
            [12, 0] + [UInt8](repeating: 65, count: 4097), [12, 1, 0xFF],
        ]
        for bytes in bad {
            #expect(throws: SessionFrameError.self, "\(bytes.prefix(8))") { try ControlMessage(decoding: bytes) }
        }
    }
}
