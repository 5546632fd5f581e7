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
}
