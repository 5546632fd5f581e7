import Sockets
import Testing

@testable import Secure

@Suite struct InboundRecordsTests {
    /// Takes everything that waits, as OpenSSL's reads would.
    static func takeAll(from records: InboundRecords, chunk: Int = 5000) -> [UInt8] {
        var taken: [UInt8] = []
        var scratch = [UInt8](repeating: 0, count: chunk)
        while let n = scratch.withUnsafeMutableBytes({ records.take(into: $0.baseAddress!, count: $0.count) }) {
            taken += scratch[0..<n]
        }
        return taken
    }

    @Test func bytesLeftWhenMoreArriveMoveToTheFrontAndComeOutInOrder() {
        let records = InboundRecords()
        let bytes = (0..<150_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        records.append(bytes[0..<90_000])
        var taken: [UInt8] = []
        var scratch = [UInt8](repeating: 0, count: 50_000)
        let n = scratch.withUnsafeMutableBytes { records.take(into: $0.baseAddress!, count: $0.count) }
        taken += scratch[0..<(n ?? 0)]
        // 40,000 bytes wait at the back; 60,000 more do not fit behind them.
        records.append(bytes[90_000...])
        #expect(records.pendingByteCount == 100_000)
        taken += Self.takeAll(from: records)
        #expect(taken == bytes)
        #expect(records.pendingByteCount == 0)
    }

    @Test func nothingWaitingIsNotAnEndOfStream() {
        let records = InboundRecords()
        #expect(Self.takeAll(from: records).isEmpty)
        records.append([1, 2, 3][...])
        #expect(Self.takeAll(from: records) == [1, 2, 3])
    }

    @Test func aTrickleKeepsOneRecordOfStorageAndAStreamGetsTheLargeRoom() throws {
        let (writer, reader) = try Socket.pair()
        defer {
            writer.close()
            reader.close()
        }
        let records = InboundRecords()
        // A handshake's worth, in small pieces: the storage stays at about one record.
        for _ in 0..<20 {
            try writer.writeAll([UInt8](repeating: 1, count: 300))
            _ = try records.fill(from: reader)
            _ = Self.takeAll(from: records)
        }
        #expect(records.readRoom == InboundRecords.oneRecord)
        #expect(records.capacity <= 2 * InboundRecords.oneRecord)
        // More waits than one record's room: that read fills it, and the next reads ask for 64 KiB.
        try writer.writeAll([UInt8](repeating: 2, count: 100_000))
        #expect(try records.fill(from: reader) == InboundRecords.oneRecord)
        #expect(records.readRoom == InboundRecords.streamingRoom)
        _ = try records.fill(from: reader)
        #expect(records.capacity >= InboundRecords.streamingRoom)
    }
}
