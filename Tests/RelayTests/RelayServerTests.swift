import Identity
import Log
import OSThreads
import Secure
import Sockets
import Testing

@testable import Relay

#if canImport(Glibc)
    import Glibc
#endif

/// A relay on loopback, and endpoints that register at it.
@Suite(.serialized) struct RelayServerTests {
    let relayIdentity = EndpointIdentity.generate()
    let pi = EndpointIdentity.generate()
    let laptop = EndpointIdentity.generate()

    func startRelay(_ configure: (inout RelayServer.Limits) -> Void = { _ in }) throws -> RelayServer {
        var limits = RelayServer.Limits()
        limits.registrationSeconds = 1
        limits.acceptSeconds = 2
        configure(&limits)
        let relay = try RelayServer(
            identity: relayIdentity, endpoint: Endpoint(host: "127.0.0.1", port: 0), limits: limits,
            logger: Logger(label: "relay", level: .error))
        relay.start()
        return relay
    }

    /// A listening Pi that accepts every announced client and echoes its bytes.
    func startEchoingPi(_ relay: RelayServer) -> RelayListener {
        let endpoint = relay.listener.endpoint
        let identity = pi
        let listener = RelayListener(
            relay: endpoint, relayId: relayIdentity.endpointId, identity: identity,
            logger: Logger(label: "pi", level: .error)
        ) { token, _ in
            try? OSThread.detach(name: "test") {
                guard
                    let (stream, _) = try? RelayClient.register(
                        .accept(token: token), at: endpoint, relayId: nil, identity: identity)
                else { return }
                var buffer = [UInt8](repeating: 0, count: 4096)
                while let n = try? stream.read(into: &buffer), n > 0 { try? stream.writeAll(buffer[0..<n]) }
            }
        }
        listener.start()
        return listener
    }

    func waitUntilListening(_ listener: RelayListener) {
        for _ in 0..<200 where listener.observedAddress == nil { usleep(10_000) }
    }

    @Test func aClientReachesAListeningServerAndTheRelaySplicesTheirBytes() throws {
        let relay = try startRelay()
        defer { relay.stop() }
        let listener = startEchoingPi(relay)
        defer { listener.stop() }
        waitUntilListening(listener)
        #expect(listener.observedAddress?.hasPrefix("127.0.0.1:") == true)
        let (stream, observed) = try RelayClient.register(
            .connect(target: pi.endpointId), at: relay.listener.endpoint, relayId: relayIdentity.endpointId,
            identity: laptop)
        #expect(observed.hasPrefix("127.0.0.1:"))
        let message = Array("bytes through the relay".utf8)
        try stream.writeAll(message)
        var buffer = [UInt8](repeating: 0, count: 64)
        var received: [UInt8] = []
        while received.count < message.count {
            let n = try stream.read(into: &buffer)
            if n == 0 { break }
            received += buffer[0..<n]
        }
        #expect(received == message)
    }

    @Test func aRegistrationSignedByAnotherKeyIsRefused() throws {
        let relay = try startRelay()
        defer { relay.stop() }
        let context = try TLSContext(role: .client, identity: laptop, protocols: [RelayClient.alpn]) { _ in nil }
        let socket = try TCP.connect(to: relay.listener.endpoint)
        let stream = try TLSStream(socket: socket, context: context)
        let (kind, payload) = try RelayMessageReader.read(from: stream)
        guard case .challenge(let nonce, _) = try RelayToEndpoint(kind: kind, payload: payload) else {
            Issue.record("no challenge")
            return
        }
        // Claims to be the Pi, signs with the laptop's key.
        let forged = laptop.sign(RelayWire.signedBytes(nonce: nonce, purpose: .listen))
        try stream.writeAll(EndpointToRelay.register(.listen, id: pi.endpointId, signature: forged).encoded)
        let (answerKind, answer) = try RelayMessageReader.read(from: stream)
        guard case .refused(let reason) = try RelayToEndpoint(kind: answerKind, payload: answer) else {
            Issue.record("the forged registration was not refused")
            return
        }
        #expect(reason.contains("signature does not verify"))
    }

    @Test func aSignatureForAnotherNonceIsRefused() throws {
        let relay = try startRelay()
        defer { relay.stop() }
        let context = try TLSContext(role: .client, identity: pi, protocols: [RelayClient.alpn]) { _ in nil }
        let stream = try TLSStream(socket: TCP.connect(to: relay.listener.endpoint), context: context)
        _ = try RelayMessageReader.read(from: stream)
        let replayed = pi.sign(RelayWire.signedBytes(nonce: Array(repeating: 0, count: 32), purpose: .listen))
        try stream.writeAll(EndpointToRelay.register(.listen, id: pi.endpointId, signature: replayed).encoded)
        let (kind, payload) = try RelayMessageReader.read(from: stream)
        #expect(try RelayToEndpoint(kind: kind, payload: payload) != .accepted)
    }

    @Test func aClientAskingForAnAbsentServerIsToldSo() throws {
        let relay = try startRelay()
        defer { relay.stop() }
        #expect {
            try RelayClient.register(
                .connect(target: pi.endpointId), at: relay.listener.endpoint, relayId: nil, identity: laptop)
        } throws: { error in
            (error as? RelayError) == .refused("\(pi.endpointId) is not connected to this relay")
        }
    }

    @Test func theClientRefusesARelayWithAnotherKeyThanConfigured() throws {
        let relay = try startRelay()
        defer { relay.stop() }
        #expect(throws: TLSError.self) {
            try RelayClient.register(
                .listen, at: relay.listener.endpoint, relayId: EndpointIdentity.generate().endpointId, identity: pi)
        }
    }

    @Test func garbageAndSilentConnectionsAreClosedAndOthersAreServed() throws {
        let relay = try startRelay()
        defer { relay.stop() }
        let garbage = try TCP.connect(to: relay.listener.endpoint)
        try garbage.writeAll(Array(repeating: 0x16, count: 5) + Array(repeating: 0xff, count: 4000))
        let silent = try TCP.connect(to: relay.listener.endpoint)  // slowloris: says nothing
        var buffer = [UInt8](repeating: 0, count: 4096)
        garbage.setReceiveTimeout(seconds: 5)
        silent.setReceiveTimeout(seconds: 5)
        let start = monotonicSeconds()
        while let n = try? garbage.read(into: &buffer), n > 0 {}
        while let n = try? silent.read(into: &buffer), n > 0 {}
        #expect(monotonicSeconds() - start < 4)  // closed by the relay's 1 s limit, not our 5 s
        let listener = startEchoingPi(relay)
        defer { listener.stop() }
        waitUntilListening(listener)
        #expect(listener.observedAddress != nil)
    }

    @Test func oneEndpointCannotHoldMoreThanItsShareOfConnections() throws {
        // The Pi may hold two: its listening registration and one accepted client.
        let relay = try startRelay { $0.connectionsPerEndpoint = 2 }
        defer { relay.stop() }
        let listener = startEchoingPi(relay)
        defer { listener.stop() }
        waitUntilListening(listener)
        let (first, _) = try RelayClient.register(
            .connect(target: pi.endpointId), at: relay.listener.endpoint, relayId: nil, identity: laptop)
        #expect {
            try RelayClient.register(
                .connect(target: pi.endpointId), at: relay.listener.endpoint, relayId: nil, identity: laptop)
        } throws: { error in
            (error as? RelayError) == .refused("\(pi.endpointId) did not answer")
        }
        // The first splice is unaffected.
        try first.writeAll([42])
        var buffer = [UInt8](repeating: 0, count: 4)
        let n = try first.read(into: &buffer)
        #expect(n == 1 && buffer[0] == 42, "read \(n) bytes: \(buffer)")
    }
}
