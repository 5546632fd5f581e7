import Testing

@testable import ByteBuffers

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

    @Test func manySmallAppendsGrowTheStorageByDoublingNotByteByByte() {
        var buffer = ReceiveBuffer(capacity: 0)
        var capacities: Set<Int> = []
        for i in 0..<4096 {
            buffer.append([UInt8(truncatingIfNeeded: i)])
            capacities.insert(buffer.bytes.count)
        }
        #expect(capacities.count <= 13)
        #expect(buffer.bytes.count < 2 * 4096)
        #expect(Array(buffer.bytes[buffer.start..<buffer.end]) == (0..<4096).map { UInt8(truncatingIfNeeded: $0) })
    }

    @Test func aReadLandsAfterWhatWaits() {
        var buffer = ReceiveBuffer(capacity: 8)
        buffer.append([1, 2, 3])
        let n = buffer.read(room: 64) { bytes, offset in
            #expect(bytes.count - offset >= 64)
            bytes[offset..<(offset + 3)] = [4, 5, 6]
            return 3
        }
        #expect(n == 3)
        #expect(Array(buffer.bytes[buffer.start..<buffer.end]) == [1, 2, 3, 4, 5, 6])
    }

    @Test func aReaderThatClaimsMoreThanTheRoomAddsOnlyWhatFits() {
        var buffer = ReceiveBuffer(capacity: 4)
        _ = buffer.read(room: 4) { bytes, _ in bytes.count + 100 }
        #expect(buffer.end == buffer.bytes.count)
    }

    @Test func bytesWithoutContiguousStorageAreAppendedTooAndKeptAcrossGrowth() {
        var buffer = ReceiveBuffer(capacity: 2)
        buffer.append([1, 2][...])
        buffer.consume(1)
        buffer.append(repeatElement(UInt8(7), count: 3))  // no contiguous storage: the slow path
        buffer.append(Array(10..<20))  // grows, keeping what waits
        #expect(Array(buffer.bytes[buffer.start..<buffer.end]) == [2, 7, 7, 7] + Array(10..<20))
    }
}
