import Identity
import Testing

@testable import Secure

/// Two TLS connections shaking hands in memory: every check of the handshake, no sockets.
@Suite struct TLSConnectionTests {
    let laptop = EndpointIdentity.generate()
    let pi = EndpointIdentity.generate()

    func serverContext(allow: [EndpointId], protocols: [String] = ["usbp2p/1"]) throws -> TLSContext {
        try TLSContext(role: .server, identity: pi, protocols: protocols) { peer in
            allow.contains(peer) ? nil : "\(peer) is not on the allowlist"
        }
    }

    /// Runs both handshakes, passing bytes back and forth, until both finish or one throws.
    static func shakeHands(_ client: TLSConnection, _ server: TLSConnection) throws {
        for _ in 0..<10 {
            let clientDone = try client.handshake()
            server.receive(client.takeOutbound()[...])
            let serverDone = try server.handshake()
            client.receive(server.takeOutbound()[...])
            if clientDone && serverDone { return }
        }
        Issue.record("the handshake did not finish in 10 rounds")
    }

    static func send(_ text: String, from a: TLSConnection, to b: TLSConnection) throws -> String? {
        try Array(text.utf8).withUnsafeBytes { try a.write($0) }
        b.receive(a.takeOutbound()[...])
        var buffer = [UInt8](repeating: 0, count: 1024)
        guard let n = try buffer.withUnsafeMutableBytes({ try b.read(into: $0) }) else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    @Test func mutualHandshakeAuthenticatesBothEndpointIdsAndCarriesData() throws {
        let client = try TLSConnection(
            context: TLSContext(clientFor: pi.endpointId, identity: laptop, protocols: ["usbp2p/1"]))
        let server = try TLSConnection(context: serverContext(allow: [laptop.endpointId]))
        try Self.shakeHands(client, server)
        #expect(client.peer == pi.endpointId)
        #expect(server.peer == laptop.endpointId)
        #expect(client.applicationProtocol == "usbp2p/1")
        #expect(server.applicationProtocol == "usbp2p/1")
        #expect(try Self.send("hello pi", from: client, to: server) == "hello pi")
        #expect(try Self.send("hello laptop", from: server, to: client) == "hello laptop")
    }

    @Test func bothEndsExportTheSameKeyingMaterialAndOtherSessionsDiffer() throws {
        func session() throws -> (TLSConnection, TLSConnection) {
            let client = try TLSConnection(
                context: TLSContext(clientFor: pi.endpointId, identity: laptop, protocols: ["usbp2p/1"]))
            let server = try TLSConnection(context: serverContext(allow: [laptop.endpointId]))
            try Self.shakeHands(client, server)
            return (client, server)
        }
        let (c1, s1) = try session()
        let (c2, _) = try session()
        let a = try c1.exportKeyingMaterial(label: "EXPORTER-test", context: [], length: 32)
        #expect(a == (try s1.exportKeyingMaterial(label: "EXPORTER-test", context: [], length: 32)))
        #expect(a != (try c2.exportKeyingMaterial(label: "EXPORTER-test", context: [], length: 32)))
    }

    @Test func clientRefusesAServerWithAnotherKeyThanThePinnedOne() throws {
        let impostor = EndpointIdentity.generate()
        let client = try TLSConnection(
            context: TLSContext(clientFor: pi.endpointId, identity: laptop, protocols: ["usbp2p/1"]))
        let server = try TLSConnection(
            context: TLSContext(role: .server, identity: impostor, protocols: ["usbp2p/1"]) { _ in nil })
        #expect {
            try Self.shakeHands(client, server)
        } throws: { error in
            guard case .peerRefused(let why) = error as? TLSError else { return false }
            return why.contains("not the pinned \(pi.endpointId)")
        }
        #expect(client.peer == nil)
    }

    @Test func serverRefusesAClientNotOnItsAllowlistAndTheClientCannotRead() throws {
        let client = try TLSConnection(
            context: TLSContext(clientFor: pi.endpointId, identity: laptop, protocols: ["usbp2p/1"]))
        let server = try TLSConnection(context: serverContext(allow: []))
        #expect(try client.handshake() == false)
        server.receive(client.takeOutbound()[...])
        #expect(try server.handshake() == false)
        client.receive(server.takeOutbound()[...])
        // TLS 1.3: the client finishes first; the server judges its certificate after.
        #expect(try client.handshake())
        server.receive(client.takeOutbound()[...])
        #expect {
            try server.handshake()
        } throws: { error in
            guard case .peerRefused(let why) = error as? TLSError else { return false }
            return why.contains("not on the allowlist")
        }
        #expect(server.peer == nil)
        client.receive(server.takeOutbound()[...])
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect(throws: TLSError.self) { _ = try buffer.withUnsafeMutableBytes { try client.read(into: $0) } }
    }

    @Test func noCommonApplicationProtocolFailsTheHandshake() throws {
        let client = try TLSConnection(
            context: TLSContext(clientFor: pi.endpointId, identity: laptop, protocols: ["usbp2p-pair/1"]))
        let server = try TLSConnection(context: serverContext(allow: [laptop.endpointId]))
        #expect(throws: TLSError.self) { try Self.shakeHands(client, server) }
    }

    @Test func garbageInsteadOfAClientHelloFailsTheServerHandshake() throws {
        let server = try TLSConnection(context: serverContext(allow: [laptop.endpointId]))
        server.receive(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)[...])
        #expect {
            try server.handshake()
        } throws: { error in
            guard case .handshakeFailed = error as? TLSError else { return false }
            return true
        }
    }

    @Test func aTamperedRecordIsRejected() throws {
        let client = try TLSConnection(
            context: TLSContext(clientFor: pi.endpointId, identity: laptop, protocols: ["usbp2p/1"]))
        let server = try TLSConnection(context: serverContext(allow: [laptop.endpointId]))
        try Self.shakeHands(client, server)
        try Array("secret".utf8).withUnsafeBytes { try client.write($0) }
        var record = client.takeOutbound()
        record[record.count - 3] ^= 0x01
        server.receive(record[...])
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect(throws: TLSError.self) { _ = try buffer.withUnsafeMutableBytes { try server.read(into: $0) } }
    }

    @Test func recordsSplitIntoSingleBytesStillDecrypt() throws {
        let client = try TLSConnection(
            context: TLSContext(clientFor: pi.endpointId, identity: laptop, protocols: ["usbp2p/1"]))
        let server = try TLSConnection(context: serverContext(allow: [laptop.endpointId]))
        try Self.shakeHands(client, server)
        try Array("one byte at a time".utf8).withUnsafeBytes { try client.write($0) }
        var buffer = [UInt8](repeating: 0, count: 64)
        var result: Int?
        for byte in client.takeOutbound() {
            #expect(result == nil)
            server.receive([byte][...])
            result = try buffer.withUnsafeMutableBytes { try server.read(into: $0) }
        }
        #expect(result.map { String(decoding: buffer[0..<$0], as: UTF8.self) } == "one byte at a time")
    }

    @Test func aServerWithoutAESInstructionsGetsChaCha20AndOthersTheDefault() throws {
        for (prefer, expected) in [(true, "TLS_CHACHA20_POLY1305_SHA256"), (false, "TLS_AES_256_GCM_SHA384")] {
            let client = try TLSConnection(
                context: TLSContext(clientFor: pi.endpointId, identity: laptop, protocols: ["usbp2p/1"]))
            let server = try TLSConnection(
                context: TLSContext(role: .server, identity: pi, protocols: ["usbp2p/1"], preferChaCha20: prefer) { _ in
                    nil
                })
            try Self.shakeHands(client, server)
            #expect(server.cipherName == expected)
            #expect(client.cipherName == expected)
        }
    }
}
