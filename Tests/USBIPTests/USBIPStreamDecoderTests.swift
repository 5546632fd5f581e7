import Testing

@testable import USBIP

/// The stream decoder against the ways bytes arrive from a socket.
@Suite struct USBIPStreamDecoderTests {
    /// All sample messages a server receives, back to back.
    static var serverStream: (bytes: [UInt8], messages: [USBIPMessage]) {
        let messages = Samples.all.filter { $0.0 == .server }.map(\.1)
        return (messages.flatMap(\.encoded), messages)
    }

    static var clientStream: (bytes: [UInt8], messages: [USBIPMessage], directions: [UInt32: USBIPDirection]) {
        let samples = Samples.all.filter { $0.0 == .client }
        var directions: [UInt32: USBIPDirection] = [:]
        for (_, message, direction) in samples {
            if case .submitReply(let r) = message, let direction { directions[r.seqnum] = direction }
        }
        return (samples.flatMap { $0.1.encoded }, samples.map(\.1), directions)
    }

    @Test func bytesFedOneAtATimeYieldEveryMessageOnce() throws {
        let (bytes, expected) = Self.serverStream
        var decoder = USBIPStreamDecoder(receiver: .server)
        var received: [USBIPMessage] = []
        for byte in bytes {
            decoder.append(CollectionOfOne(byte))
            while let message = try decoder.next() { received.append(message) }
        }
        #expect(received == expected)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func manyMessagesInOneReadAllComeOut() throws {
        let (bytes, expected, directions) = Self.clientStream
        var decoder = USBIPStreamDecoder(receiver: .client)
        decoder.append(bytes)
        var received: [USBIPMessage] = []
        while let message = try decoder.next(requestDirection: { directions[$0] }) { received.append(message) }
        #expect(received == expected)
    }

    @Test(arguments: [2, 7, 48, 49, 1000])
    func readsOfAnySizeYieldTheSameMessages(chunk: Int) throws {
        let (bytes, expected) = Self.serverStream
        var decoder = USBIPStreamDecoder(receiver: .server)
        var received: [USBIPMessage] = []
        var index = 0
        while index < bytes.count {
            decoder.append(bytes[index..<min(index + chunk, bytes.count)])
            index += chunk
            while let message = try decoder.next() { received.append(message) }
        }
        #expect(received == expected)
    }

    @Test func afterAnErrorTheDecoderKeepsRefusing() throws {
        var decoder = USBIPStreamDecoder(receiver: .server)
        decoder.append(hexBytes("00000009"))
        #expect(throws: USBIPError.unknownCommand(9)) { try decoder.next() }
        decoder.append(USBIPMessage.requestDeviceList.encoded)
        #expect(throws: USBIPError.unknownCommand(9)) { try decoder.next() }
    }

    @Test func messagesKeptAcrossAppendsStayIntact() throws {
        var decoder = USBIPStreamDecoder(receiver: .server)
        decoder.append(SubmitCommandTests.capturedInterruptOut)
        let kept = try decoder.next()
        decoder.append(SubmitCommandTests.capturedInterruptOut)  // compacts the buffer
        let again = try decoder.next()
        #expect(kept == again)
        #expect(kept?.encoded == SubmitCommandTests.capturedInterruptOut)
    }

    @Test(arguments: [1, 48, 1000, 100_000])
    func readsStraightIntoTheStorageYieldTheSameMessages(chunk: Int) throws {
        let (bytes, expected) = Self.serverStream
        var decoder = USBIPStreamDecoder(receiver: .server)
        var received: [USBIPMessage] = []
        var index = 0
        while true {
            let n = decoder.read(room: 64) { storage, offset in
                let count = min(chunk, storage.count - offset, bytes.count - index)
                storage[offset..<(offset + count)] = bytes[index..<(index + count)]
                index += count
                return count
            }
            if n == 0 { break }
            while let message = try decoder.next() { received.append(message) }
        }
        #expect(received == expected)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func aMessageKeptAcrossAReadStaysIntact() throws {
        var decoder = USBIPStreamDecoder(receiver: .server)
        let message = SubmitCommandTests.capturedInterruptOut
        func readOne() {
            _ = decoder.read(room: message.count) { storage, offset in
                storage[offset..<(offset + message.count)] = message[...]
                return message.count
            }
        }
        readOne()
        let kept = try decoder.next()
        readOne()  // writes into the storage the kept message's payload shares
        #expect(kept?.encoded == message)
        #expect(try decoder.next()?.encoded == message)
    }
}
