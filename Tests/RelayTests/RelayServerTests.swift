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
        #expect(listener.waitUntilRegistered(seconds: 60))
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
        let forged = laptop.sign(
            RelayWire.signedBytes(
                nonce: nonce, purpose: .listen, relay: relayIdentity.endpointId,
                exporter: try RelayWire.exporter(of: stream)))
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
        let replayed = pi.sign(
            RelayWire.signedBytes(
                nonce: Array(repeating: 0, count: 32), purpose: .listen, relay: relayIdentity.endpointId,
                exporter: try RelayWire.exporter(of: stream)))
        try stream.writeAll(EndpointToRelay.register(.listen, id: pi.endpointId, signature: replayed).encoded)
        let (kind, payload) = try RelayMessageReader.read(from: stream)
        #expect(try RelayToEndpoint(kind: kind, payload: payload) != .accepted)
    }

    @Test func aSignatureMadeForAnotherRelayOrConnectionIsRefused() throws {
        // What a malicious relay would do: take the Pi's registration for itself and
        // present it to the real relay. The nonce is right; the relay key and the TLS
        // exporter the Pi signed are not.
        let relay = try startRelay()
        defer { relay.stop() }
        let context = try TLSContext(role: .client, identity: pi, protocols: [RelayClient.alpn]) { _ in nil }
        for (relayKey, exporter) in [
            (EndpointIdentity.generate().endpointId, nil), (relayIdentity.endpointId, [UInt8](repeating: 9, count: 32)),
        ] as [(EndpointId, [UInt8]?)] {
            let stream = try TLSStream(socket: TCP.connect(to: relay.listener.endpoint), context: context)
            let (kind, payload) = try RelayMessageReader.read(from: stream)
            guard case .challenge(let nonce, _) = try RelayToEndpoint(kind: kind, payload: payload) else {
                Issue.record("no challenge")
                return
            }
            let signature = pi.sign(
                RelayWire.signedBytes(
                    nonce: nonce, purpose: .listen, relay: relayKey,
                    exporter: try exporter ?? RelayWire.exporter(of: stream)))
            try stream.writeAll(EndpointToRelay.register(.listen, id: pi.endpointId, signature: signature).encoded)
            let (answerKind, answer) = try RelayMessageReader.read(from: stream)
            #expect(try RelayToEndpoint(kind: answerKind, payload: answer) != .accepted)
        }
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

    @Test func aRegistrationTrickledAByteAtATimeRunsOutOfTime() throws {
        // Each byte comes well within the 1 s a read may wait; the whole registration may
        // not take longer than 1 s all the same. (The pause paces the attacker: it is the
        // behaviour under test, not a wait for an event.)
        let relay = try startRelay()
        defer { relay.stop() }
        let trickler = try TCP.connect(to: relay.listener.endpoint)
        try trickler.writeAll([0x16, 0x03, 0x01, 0x40, 0x00])  // a TLS record of 16 KiB, to come
        var closed = false
        for _ in 0..<300 {  // 30 s at the most
            if (try? trickler.writeAll([0])) == nil {
                closed = true
                break
            }
            usleep(100_000)
        }
        #expect(closed, "the relay kept a trickling registration open for 30 s")
    }

    @Test func aClientsConnectionsAndTheServersAnswersToItCountAgainstTheClient() throws {
        // Two each: the laptop's connection and the Pi's answer to it fill the laptop's
        // share, not the Pi's; so a client that asks for the Pi over and over cannot
        // lock out the Pi or anyone else.
        let relay = try startRelay { $0.connectionsPerEndpoint = 2 }
        defer { relay.stop() }
        let listener = startEchoingPi(relay)
        defer { listener.stop() }
        waitUntilListening(listener)
        let (first, _) = try RelayClient.register(
            .connect(target: pi.endpointId), at: relay.listener.endpoint, relayId: nil, identity: laptop)
        try first.writeAll([42])  // the splice is up, so the Pi's answer is counted by now
        var buffer = [UInt8](repeating: 0, count: 4)
        #expect(try first.read(into: &buffer) == 1 && buffer[0] == 42)
        #expect {
            try RelayClient.register(
                .connect(target: pi.endpointId), at: relay.listener.endpoint, relayId: nil, identity: laptop)
        } throws: { error in
            (error as? RelayError) == .refused("too many connections for \(laptop.endpointId)")
        }
        // Another laptop still reaches the Pi, and the first splice is unaffected.
        let (second, _) = try RelayClient.register(
            .connect(target: pi.endpointId), at: relay.listener.endpoint, relayId: nil,
            identity: EndpointIdentity.generate())
        try second.writeAll([7])
        #expect(try second.read(into: &buffer) == 1 && buffer[0] == 7)
        try first.writeAll([43])
        #expect(try first.read(into: &buffer) == 1 && buffer[0] == 43)
    }

    @Test func aSpliceWithNothingToCarryEnds() throws {
        let relay = try startRelay { $0.spliceIdleSeconds = 1 }
        defer { relay.stop() }
        let listener = startEchoingPi(relay)
        defer { listener.stop() }
        waitUntilListening(listener)
        let (stream, _) = try RelayClient.register(
            .connect(target: pi.endpointId), at: relay.listener.endpoint, relayId: nil, identity: laptop)
        guard let socket = stream.socket as? Socket else {
            Issue.record("no socket under the stream")
            return
        }
        socket.setReceiveTimeout(seconds: 20)  // far beyond the relay's 1 s
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect((try? stream.read(into: &buffer)) == 0, "the idle splice was not ended")
    }

    @Test func connectionsFromOneAddressAreBoundedAndOthersAreServed() throws {
        let relay = try startRelay {
            $0.connectionsPerSource = 3
            $0.registrationSeconds = 60  // an admitted connection would be held open that long
        }
        defer { relay.stop() }
        // Three silent connections from 127.0.0.1 fill its share; a fourth is closed at once.
        let held = try (0..<3).map { _ in try TCP.connect(to: relay.listener.endpoint) }
        let refused = try TCP.connect(to: relay.listener.endpoint)
        refused.setReceiveTimeout(seconds: 20)
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect((try? refused.read(into: &buffer)) == 0)  // closed, not left waiting
        withExtendedLifetime(held) {}
    }
}
