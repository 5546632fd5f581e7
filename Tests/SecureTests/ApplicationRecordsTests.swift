import Identity
import Testing

@testable import Secure

/// Our own record layer after the handshake, between two connections in memory: that it
/// takes over, that it speaks the same records as OpenSSL's (each end on either), and how
/// it treats what may follow the handshake (KeyUpdate, alerts, tickets, small reads).
@Suite struct ApplicationRecordsTests {
    let laptop = EndpointIdentity.generate()
    let pi = EndpointIdentity.generate()

    func pair(
        client clientLayer: TLSContext.RecordLayer = .ours, server serverLayer: TLSContext.RecordLayer = .ours,
        chaCha: Bool = false, recordsPerKey: UInt64 = TLSContext.defaultRecordsPerKey
    ) throws -> (client: TLSConnection, server: TLSConnection) {
        let client = try TLSConnection(
            context: TLSContext(
                role: .client, identity: laptop, protocols: ["usbp2p/1"], recordLayer: clientLayer,
                recordsPerKey: recordsPerKey, admitting: { _, _ in nil }))
        let server = try TLSConnection(
            context: TLSContext(
                role: .server, identity: pi, protocols: ["usbp2p/1"], preferChaCha20: chaCha, recordLayer: serverLayer,
                recordsPerKey: recordsPerKey, admitting: { _, _ in nil }))
        try TLSConnectionTests.shakeHands(client, server)
        return (client, server)
    }

    /// Writes `bytes` at `a`, hands the records to `b` and reads them back in reads of
    /// `readSize` bytes.
    func carry(_ bytes: [UInt8], from a: TLSConnection, to b: TLSConnection, readSize: Int = 64 * 1024) throws
        -> [UInt8]
    {
        try bytes.withUnsafeBytes { try a.write($0) }
        b.receive(a.takeOutbound()[...])
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: readSize)
        while let n = try buffer.withUnsafeMutableBytes({ try b.read(into: $0) }), n > 0 {
            received += buffer[0..<n]
        }
        return received
    }

    static let large = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }

    @Test func bothEndsTakeOverTheRecordsAfterTheHandshakeUnlessToldToKeepOpenSSLs() throws {
        let ours = try pair()
        #expect(ours.client.recordsAreOurs && ours.server.recordsAreOurs)
        let theirs = try pair(client: .openSSL, server: .openSSL)
        #expect(!theirs.client.recordsAreOurs && !theirs.server.recordsAreOurs)
    }

    @Test(arguments: [false, true])
    func ourRecordsAndOpenSSLsReadEachOtherBothWays(chaCha: Bool) throws {
        for (clientLayer, serverLayer) in [
            (TLSContext.RecordLayer.ours, TLSContext.RecordLayer.openSSL), (.openSSL, .ours),
        ] {
            let (client, server) = try pair(client: clientLayer, server: serverLayer, chaCha: chaCha)
            #expect(client.cipherName == (chaCha ? "TLS_CHACHA20_POLY1305_SHA256" : "TLS_AES_256_GCM_SHA384"))
            #expect(try carry(Self.large, from: client, to: server) == Self.large)
            #expect(try carry(Self.large, from: server, to: client) == Self.large)
            #expect(try carry(Array("short".utf8), from: client, to: server) == Array("short".utf8))
        }
    }

    @Test func smallReadsTakeAnOpenedRecordInOrder() throws {
        let (client, server) = try pair()
        #expect(try carry(Self.large, from: client, to: server, readSize: 7) == Self.large)
        #expect(try carry(Self.large, from: server, to: client, readSize: 20_000) == Self.large)
    }

    @Test func dataThatArrivesWithTheLastHandshakeRecordIsRead() throws {
        let client = try TLSConnection(
            context: TLSContext(clientFor: pi.endpointId, identity: laptop, protocols: ["usbp2p/1"]))
        let server = try TLSConnection(
            context: TLSContext(role: .server, identity: pi, protocols: ["usbp2p/1"]) { _ in nil })
        #expect(try !client.handshake())
        server.receive(client.takeOutbound()[...])
        #expect(try !server.handshake())
        client.receive(server.takeOutbound()[...])
        #expect(try client.handshake())
        // The client's Finished and its first data leave together, in one read at the server.
        try Array("at once".utf8).withUnsafeBytes { try client.write($0) }
        server.receive(client.takeOutbound()[...])
        #expect(try server.handshake())
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = try buffer.withUnsafeMutableBytes { try server.read(into: $0) }
        #expect(n.map { String(decoding: buffer[0..<$0], as: UTF8.self) } == "at once")
    }

    @Test func aWriterUpdatesItsKeyWhenDueAndEitherKindOfReaderFollows() throws {
        for serverLayer in [TLSContext.RecordLayer.ours, .openSSL] {
            let (client, server) = try pair(server: serverLayer, recordsPerKey: 2)
            // 100 KB is seven records: three KeyUpdates on the way.
            #expect(try carry(Self.large, from: client, to: server) == Self.large)
            #expect(try carry(Self.large, from: server, to: client) == Self.large)
        }
    }

    @Test func aKeyUpdateThatAsksForOneMakesOurWriterUpdateToo() throws {
        let secrets = ([UInt8](repeating: 1, count: 32), [UInt8](repeating: 2, count: 32))
        let (aWriter, aReader) = try ApplicationRecords.make(
            suite: .chaCha20Poly1305, writeSecret: secrets.0, readSecret: secrets.1, recordsPerKey: 1000)
        let (_, bReader) = try ApplicationRecords.make(
            suite: .chaCha20Poly1305, writeSecret: secrets.1, readSecret: secrets.0, recordsPerKey: 1000)
        // B asks: a KeyUpdate with update_requested, sealed by hand, then B's next key.
        let bProtection = try RecordProtection(suite: .chaCha20Poly1305, secret: secrets.1, sealing: true)
        let toA = InboundRecords()
        var record = [UInt8](repeating: 0, count: RecordProtection.sealedLength(5))
        _ = try [UInt8]([24, 0, 0, 1, 1]).withUnsafeBytes { message in
            try record.withUnsafeMutableBytes { try bProtection.seal(message, type: .handshake, into: $0.baseAddress!) }
        }
        toA.append(record[...])
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect(try buffer.withUnsafeMutableBytes { try aReader.read(from: toA, into: $0) } == nil)
        // A's next write leads with its own KeyUpdate; B's reader follows it.
        let outbound = OutboundRecords()
        try Array("after".utf8).withUnsafeBytes { try aWriter.write($0, into: outbound) }
        var records: [UInt8] = []
        let end = outbound.take(into: &records, at: 0)
        #expect(end == RecordProtection.sealedLength(5) + RecordProtection.sealedLength(5))
        let toB = InboundRecords()
        toB.append(records[0..<end])
        let n = try buffer.withUnsafeMutableBytes { try bReader.read(from: toB, into: $0) }
        #expect(n.map { String(decoding: buffer[0..<$0], as: UTF8.self) } == "after")
    }

    @Test func closeNotifyEndsTheStreamAndAnyOtherAlertIsAnError() throws {
        for serverLayer in [TLSContext.RecordLayer.ours, .openSSL] {
            let (client, server) = try pair(server: serverLayer)
            client.close()
            server.receive(client.takeOutbound()[...])
            var buffer = [UInt8](repeating: 0, count: 64)
            #expect(try buffer.withUnsafeMutableBytes { try server.read(into: $0) } == 0)
        }
        // A fatal alert (handshake_failure), sealed by hand under the reader's key.
        let secret = [UInt8](repeating: 7, count: 32)
        let (_, reader) = try ApplicationRecords.make(
            suite: .aes128GCM, writeSecret: secret, readSecret: secret, recordsPerKey: 1000)
        let sealer = try RecordProtection(suite: .aes128GCM, secret: secret, sealing: true)
        var record = [UInt8](repeating: 0, count: RecordProtection.sealedLength(2))
        _ = try [UInt8]([2, 40]).withUnsafeBytes { alert in
            try record.withUnsafeMutableBytes { try sealer.seal(alert, type: .alert, into: $0.baseAddress!) }
        }
        let inbound = InboundRecords()
        inbound.append(record[...])
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect(throws: TLSError.recordFailed("the peer sent alert 40 and closed")) {
            _ = try buffer.withUnsafeMutableBytes { try reader.read(from: inbound, into: $0) }
        }
    }
}
