import Testing

@testable import Sockets

@Suite struct ReceiveBufferTests {
    @Test func whatWaitsMovesToTheFrontOnlyWhenTheTailIsShort() {
        var buffer = ReceiveBuffer(capacity: 100)
        buffer.append(Array(0..<60))
        buffer.consume(50)
        buffer.append(Array(60..<90))  // fits behind what waits: nothing moves
        #expect(buffer.start == 50)
        buffer.append(Array(90..<140))  // does not: the 40 waiting bytes move first
        #expect(buffer.start == 0 && buffer.count == 90)
        #expect(buffer.bytes.count == 100)
        #expect(Array(buffer.bytes[buffer.start..<buffer.end]) == Array(50..<140))
    }

    @Test func theStorageGrowsOnlyWhenMovingIsNotEnough() {
        var buffer = ReceiveBuffer(capacity: 16)
        buffer.append(Array(0..<10))
        buffer.append(Array(10..<40))
        #expect(buffer.bytes.count == 40)
        buffer.consume(100)  // at most what waits
        #expect(buffer.count == 0)
    }

    @Test func aReadLandsAfterWhatWaits() throws {
        let (writer, reader) = try Socket.pair()
        defer {
            writer.close()
            reader.close()
        }
        var buffer = ReceiveBuffer(capacity: 8)
        buffer.append([1, 2, 3])
        try writer.writeAll([4, 5, 6])
        var received = 0
        while received < 3 { received += try buffer.read(from: reader, room: 64) }
        #expect(Array(buffer.bytes[buffer.start..<buffer.end]) == [1, 2, 3, 4, 5, 6])
    }
}
