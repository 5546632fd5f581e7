import Identity
import OSThreads
import Secure
import Sockets
import Synchronization
import Testing

@testable import Pairing

/// `usbp2p-pair/1` end to end over a socket pair: TLS, the proof, the window's verdicts.
@Suite struct PairingExchangeTests {
    let pi = EndpointIdentity.generate()
    let laptop = EndpointIdentity.generate()
    let secret = PairingSecret.random()

    /// Shared with the server thread (a Mutex itself cannot be passed around).
    final class Locked<T: Sendable>: Sendable {
        let value: Mutex<T>
        init(_ value: T) { self.value = Mutex(value) }
        func withLock<R>(_ body: (inout T) -> R) -> R { value.withLock { body(&$0) } }
    }

    /// The server half of one connection: pairs strangers on usbp2p-pair/1 only.
    func serve(_ socket: Socket, window: PairingWindow, stored: Locked<[EndpointId]>) -> PairingExchange.Outcome? {
        guard
            let context = try? TLSContext(
                role: .server, identity: pi, protocols: [PairingExchange.alpn],
                admitting: {
                    _, alpn in alpn == PairingExchange.alpn ? nil : "not pairing"
                }),
            let stream = try? TLSStream(socket: socket, context: context)
        else { return nil }
        defer { stream.close() }
        return try? PairingExchange.respond(over: stream, secret: secret, window: window) { peer, _ in
            stored.withLock { $0.append(peer) }
            return "Test Pi"
        }
    }

    /// One pairing attempt with `proofSecret`; returns the reply and the server's outcome.
    func attempt(
        window: PairingWindow, stored: Locked<[EndpointId]>, proofSecret: PairingSecret? = nil,
        replay: Locked<[UInt8]?>? = nil
    ) throws -> (PairingReply, PairingExchange.Outcome?) {
        let (client, server) = try Socket.pair()
        let outcome = Locked<PairingExchange.Outcome?>(nil)
        let done = Monitor()
        let finished = Locked(false)
        try? OSThread.detach(name: "test") {
            let result = serve(server, window: window, stored: stored)
            outcome.withLock { $0 = result }
            done.withLock { finished.withLock { $0 = true } }
            done.broadcast()
        }
        let stream = try TLSStream(
            socket: client,
            context: TLSContext(clientFor: pi.endpointId, identity: laptop, protocols: [PairingExchange.alpn]))
        defer { stream.close() }
        let reply: PairingReply
        if let replay, let old = replay.withLock({ $0 }) {
            try stream.writeAll(PairingRequest(proof: old, name: "replayer").encoded)
            reply = try PairingExchange.readMessage(from: stream) { bytes throws(PairingMessageError) in
                try PairingReply.decode(bytes)
            }
        } else {
            if let replay {
                let exporter = try stream.connection.exportKeyingMaterial(
                    label: PairingProof.exporterLabel, context: [], length: 32)
                replay.withLock { $0 = PairingProof.make(secret: proofSecret ?? secret, exporter: exporter) }
            }
            reply = try PairingExchange.request(over: stream, secret: proofSecret ?? secret, name: "Anna's laptop")
        }
        done.withLock { while !finished.withLock({ $0 }) { done.wait() } }
        return (reply, outcome.withLock { $0 })
    }

    @Test func theRightSecretInsideTheWindowPairsAndStoresTheClient() throws {
        let window = PairingWindow()
        let stored = Locked<[EndpointId]>([])
        window.open()
        let (reply, outcome) = try attempt(window: window, stored: stored)
        #expect(reply == PairingReply(status: .paired, text: "Test Pi"))
        #expect(outcome?.peer == laptop.endpointId)
        #expect(outcome?.name == "Anna's laptop")
        #expect(stored.withLock { $0 } == [laptop.endpointId])
    }

    @Test func outsideTheWindowTheRightSecretIsRefusedAndNothingIsStored() throws {
        let stored = Locked<[EndpointId]>([])
        let (reply, _) = try attempt(window: PairingWindow(), stored: stored)
        #expect(reply.status == .notOpen)
        #expect(reply.text.contains("press the button"))
        #expect(stored.withLock { $0 }.isEmpty)
    }

    @Test func wrongSecretsAreRefusedAndTheThirdLocksThatLaptopOutOfThisWindow() throws {
        let window = PairingWindow()
        let stored = Locked<[EndpointId]>([])
        window.open()
        let wrong = PairingSecret.random()
        let first = try attempt(window: window, stored: stored, proofSecret: wrong).0
        #expect(first.status == .wrongProof && first.text.contains("wrong pairing secret"))
        #expect(try attempt(window: window, stored: stored, proofSecret: wrong).0.status == .wrongProof)
        let third = try attempt(window: window, stored: stored, proofSecret: wrong).0
        #expect(third.status == .tooManyWrongProofs && third.text.contains("may not try again"))
        // A fourth try from the same laptop, now with the right secret, is still refused;
        // the window stays open for others.
        #expect(try attempt(window: window, stored: stored).0.status == .tooManyWrongProofs)
        #expect(window.isOpen)
        #expect(stored.withLock { $0 }.isEmpty)
    }

    @Test func aProofReplayedOnAnotherTLSConnectionIsWrongThere() throws {
        let window = PairingWindow()
        let stored = Locked<[EndpointId]>([])
        let captured = Locked<[UInt8]?>(nil)
        // The first connection's proof is computed (the window is closed, so it is refused)...
        _ = try attempt(window: window, stored: stored, replay: captured)
        #expect(captured.withLock { $0 } != nil)
        // ...and sent again on a second connection while the window is open.
        window.open()
        let (reply, _) = try attempt(window: window, stored: stored, replay: captured)
        #expect(reply.status == .wrongProof)
        #expect(stored.withLock { $0 }.isEmpty)
    }

    @Test func malformedRequestsAreAnsweredAndRejected() throws {
        #expect(throws: PairingMessageError.badMagic) { try PairingRequest.decode(Array("GET / HTTP/1.1".utf8)) }
        let good = PairingRequest(proof: [UInt8](repeating: 7, count: 32), name: "x").encoded
        #expect(try PairingRequest.decode(Array(good.dropLast())) == nil)
        #expect(throws: PairingMessageError.trailingBytes) { try PairingRequest.decode(good + [0]) }
        var long = Array(good.prefix(36)) + [200]
        long += [UInt8](repeating: 65, count: 200)
        #expect(throws: PairingMessageError.tooLong(200)) { try PairingRequest.decode(long) }
        var bad = Array(good.prefix(36)) + [2, 0xFF, 0xFE]
        #expect(throws: PairingMessageError.notUTF8) { try PairingRequest.decode(bad) }
        bad = PairingReply(status: .paired, text: "ok").encoded
        bad[4] = 99
        #expect(throws: PairingMessageError.unknownStatus(99)) { try PairingReply.decode(bad) }
    }

    @Test func longNamesAreCutAtACharacterBoundary() {
        let name = String(repeating: "é", count: 40)  // 80 bytes
        let request = PairingRequest(proof: [UInt8](repeating: 0, count: 32), name: name)
        #expect(request.name.utf8.count <= PairingRequest.maxNameBytes)
        #expect(request.name.allSatisfy { $0 == "é" })
    }
}
