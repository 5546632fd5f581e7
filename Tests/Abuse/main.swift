// usbp2p-abuse: the attacker of the abuse scenario and the relay soak (Tests/Guest/
// abuse-while-a-laptop-works.sh, scripts/relay-soak). Every load it makes is bounded in
// count and time and aimed only at addresses the test gives it (loopback or its own
// network namespaces). It prints one "result:" line per run for the script to check.

import ArgumentParser
import Identity
import Log
import OSThreads
import Relay
import Secure
import Session
import Sockets
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

@main
struct Abuse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usbp2p-abuse", abstract: "Bounded attacks for the abuse scenario and the relay soak.",
        subcommands: [Trickle.self, RelayTrickle.self, FakeRelay.self, Hoard.self, RelaySoak.self])
}

func endpoint(_ text: String) throws -> Endpoint {
    guard let e = Endpoint(parsing: text, defaultPort: 0), e.port != 0 else {
        throw ValidationError("'\(text)' is not host:port")
    }
    return e
}

func say(_ line: String) {
    print(line)
    fflush(nil)
}

/// Runs `body` on `count` threads at once and waits for all.
func inParallel(_ count: Int, name: String, _ body: @escaping @Sendable (Int) -> Void) throws {
    let threads = try (0..<count).map { i in try OSThread.start(name: name) { body(i) } }
    for thread in threads { thread.join() }
}

/// Connections that send a TLS record header and then one byte every `interval`
/// seconds: each byte comes in time for a per-read timeout, the whole never ends. A
/// connection the server closes is replaced, up to ten times `--connections` in all, so
/// the pressure lasts the whole `--seconds`. With `--pairing-server`, each connection
/// first completes TLS for pairing as a fresh stranger, quickly, and then trickles its
/// pairing request instead.
struct Trickle: ParsableCommand {
    @Option var target: String
    @Option var connections = 100
    @Option(help: "Source addresses to leave from, in turn (the host must have them).") var source: [String] = []
    @Option var interval = 1.0
    @Option var seconds = 30.0
    @Option(help: "The server's EndpointId: trickle pairing requests after a complete TLS handshake.")
    var pairingServer: String?
    @Option(help: "Report as overdue the connections still open at the end after this many seconds (0: none).")
    var overdueAfter = 0.0

    /// A connection's first bytes, after which only single bytes follow.
    func open(to: Endpoint, from: String?, pairingWith server: EndpointId?) throws -> any ByteStream {
        let socket = try TCP.connect(to: to, timeoutSeconds: 5, localAddress: from)
        guard let server else {
            try socket.writeAll([0x16, 0x03, 0x01, 0x40, 0x00])  // a TLS record of 16 KiB, to come
            return socket
        }
        do {
            socket.setReceiveTimeout(seconds: 5)
            let context = try TLSContext(clientFor: server, identity: .generate(), protocols: ["usbp2p-pair/1"])
            let stream = try TLSStream(socket: socket, context: context)
            try stream.writeAll(Array("UPQ1".utf8))  // a pairing request, its proof to come
            return stream
        } catch {
            socket.close()
            throw error
        }
    }

    func run() throws {
        let to = try endpoint(target)
        let server = try pairingServer.map { try EndpointId(parsing: $0) }
        var open: [(stream: any ByteStream, since: Double)] = []
        var opened = 0
        var refused = 0
        var closedByServer = 0
        var mostOpen = 0
        let end = monotonicSeconds() + seconds
        // A round tops up by at most a tenth of the connections, so that one whose
        // handshakes are slow (TLS for pairing, on an emulated machine) still trickles
        // and notices closed connections every round.
        let perRound = max(1, connections / 10)
        while monotonicSeconds() < end {
            // Top up towards `connections`, within the total budget.
            var started = 0
            while open.count < connections, opened + refused < connections * 10, started < perRound,
                monotonicSeconds() < end
            {
                started += 1
                let from = source.isEmpty ? nil : source[(opened + refused) % source.count]
                do {
                    open.append((try self.open(to: to, from: from, pairingWith: server), monotonicSeconds()))
                    opened += 1
                } catch {
                    refused += 1
                }
            }
            mostOpen = max(mostOpen, open.count)
            usleep(UInt32(interval * 1e6))  // the attacker's pace
            closedByServer += sweep(&open)
        }
        // The last word on each: a write the server's reset fails, twice, a moment apart
        // (the first write after a close still succeeds locally).
        closedByServer += sweep(&open)
        usleep(500_000)
        closedByServer += sweep(&open)
        let now = monotonicSeconds()
        let overdue = overdueAfter > 0 ? open.filter { now - $0.since > overdueAfter }.count : 0
        say(
            "result: trickle opened \(opened) refused \(refused) closed-by-server \(closedByServer) "
                + "most-open-at-once \(mostOpen) still-open \(open.count) overdue \(overdue)")
    }

    /// One byte to each; those the server has closed are dropped. Returns how many.
    func sweep(_ open: inout [(stream: any ByteStream, since: Double)]) -> Int {
        let before = open.count
        open = open.filter { connection in
            if (try? connection.stream.writeAll([0])) != nil { return true }
            connection.stream.close()
            return false
        }
        return before - open.count
    }
}

/// Strangers who know only the server's EndpointId: each registers at the relay to
/// connect to it (a fresh key each) and trickles its TLS greeting down the splice.
struct RelayTrickle: ParsableCommand {
    @Option var relay: String
    @Option(name: .customLong("target-id")) var targetId: String
    @Option var count = 20
    @Option var interval = 1.0
    @Option var seconds = 20.0

    func run() throws {
        let relayEndpoint = try endpoint(relay)
        let target = try EndpointId(parsing: targetId)
        let spliced = Atomic<Int>(0)
        let refused = Atomic<Int>(0)
        let (seconds, interval) = (seconds, interval)
        try inParallel(count, name: "stranger") { _ in
            do {
                let (stream, _) = try RelayClient.register(
                    .connect(target: target), at: relayEndpoint, relayId: nil, identity: .generate())
                spliced.add(1, ordering: .relaxed)
                let end = monotonicSeconds() + seconds
                try stream.writeAll([0x16, 0x03, 0x01, 0x40, 0x00])
                while monotonicSeconds() < end, (try? stream.writeAll([0])) != nil { usleep(UInt32(interval * 1e6)) }
                stream.close()
            } catch {
                refused.add(1, ordering: .relaxed)
            }
        }
        say(
            "result: relay-trickle spliced \(spliced.load(ordering: .relaxed)) refused \(refused.load(ordering: .relaxed))"
        )
    }
}

/// A relay that lies: it takes a server's registration and floods it with "incoming
/// client" notices naming `--from` (a paired laptop's id, or anyone), then holds every
/// answering connection open without a word. Reports how many answers came, and the
/// most at once.
struct FakeRelay: ParsableCommand {
    @Option var listen: String
    @Option var from: String
    @Option var notices = 2000
    @Option var seconds = 30.0

    func run() throws {
        let listener = try TCP.Listener(endpoint: try endpoint(listen))
        let from = try EndpointId(parsing: self.from)
        let identity = EndpointIdentity.generate()
        let tls = try TLSContext(role: .server, identity: identity, protocols: [RelayClient.alpn]) { _, _ in nil }
        let answers = Atomic<Int>(0)
        let holding = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        let sent = Atomic<Int>(0)
        let (notices, seconds) = (notices, seconds)
        say("fake relay \(identity.endpointId) on \(listener.endpoint)")
        try OSThread.detach(name: "fake-relay") {
            while let socket = try? listener.accept() {
                try? OSThread.detach(name: "fake-conn") {
                    guard let stream = try? TLSStream(socket: socket, context: tls) else { return }
                    let nonce = [UInt8](repeating: 7, count: 32)
                    guard
                        (try? stream.writeAll(RelayToEndpoint.challenge(nonce: nonce, observed: socket.peer).encoded))
                            != nil,
                        let (kind, payload) = try? RelayMessageReader.read(from: stream),
                        case .register(let purpose, _, _)? = try? EndpointToRelay(kind: kind, payload: payload),
                        (try? stream.writeAll(RelayToEndpoint.accepted.encoded)) != nil
                    else { return }
                    switch purpose {
                    case .listen:
                        for _ in 0..<notices {
                            let token = (0..<16).map { _ in UInt8.random(in: 0...255) }
                            guard
                                (try? stream.writeAll(RelayToEndpoint.incoming(token: token, from: from).encoded))
                                    != nil
                            else { break }
                            sent.add(1, ordering: .relaxed)
                        }
                    default:
                        answers.add(1, ordering: .relaxed)
                        let now = holding.add(1, ordering: .relaxed).newValue
                        var seen = most.load(ordering: .relaxed)
                        while now > seen {
                            let (swapped, current) = most.compareExchange(
                                expected: seen, desired: now, ordering: .relaxed)
                            if swapped { break }
                            seen = current
                        }
                    }
                    var buffer = [UInt8](repeating: 0, count: 512)
                    while let n = try? stream.read(into: &buffer), n > 0 {}  // held, silent
                    if case .listen = purpose {} else { holding.subtract(1, ordering: .relaxed) }
                }
            }
        }
        let end = monotonicSeconds() + seconds
        while monotonicSeconds() < end { usleep(200_000) }
        listener.socket.shutdown()
        say(
            "result: fake-relay notices \(sent.load(ordering: .relaxed)) answers \(answers.load(ordering: .relaxed)) "
                + "most-at-once \(most.load(ordering: .relaxed))")
    }
}

/// A paired laptop gone bad: one session in which it opens channels it never uses (each
/// a USB/IP connection on the server waiting for its op request) and floods control
/// messages that each ask for a reply.
struct Hoard: ParsableCommand {
    @Option(help: "The laptop's identity key file.") var key: String
    @Option(name: .customLong("server-id")) var serverId: String
    @Option var address: String
    @Option var channels = 64
    @Option var punches = 100_000
    @Option var seconds = 20.0

    func run() throws {
        let identity = try KeyFile.load(from: key)
        let server = try EndpointId(parsing: serverId)
        let to = try endpoint(address)
        let context = try TLSContext(clientFor: server, identity: identity, protocols: ["usbp2p/1"])
        let logger = Logger(label: "hoard", level: .warning)
        let client = SessionClient(
            peerName: "server", configuration: SessionConfiguration(), logger: logger, replaced: { _ in },
            connect: { (try TLSStream(socket: TCP.connect(to: to), context: context), "\(to)") })
        let session = try client.start()
        var held: [Socket] = []
        var refusedChannels = 0
        for _ in 0..<channels {
            do { held.append(try session.openChannel()) } catch { refusedChannels += 1 }
        }
        var sent = 0
        while sent < punches, !session.isEnded {
            session.send(.punch([]))
            sent += 1
        }
        let end = monotonicSeconds() + seconds
        while monotonicSeconds() < end, !session.isEnded { usleep(200_000) }
        let ended = session.isEnded
        client.stop(reason: "hoarding over")
        withExtendedLifetime(held) {}
        say(
            "result: hoard channels \(held.count) refused \(refusedChannels) punches \(sent) session-ended \(ended)")
    }
}

/// Churn at the relay: connections opened and closed without a word, registrations that
/// leave at once, and clients spliced to a listening echo server that exchange a few
/// bytes; `--connections` in all, `--concurrency` at once.
struct RelaySoak: ParsableCommand {
    @Option var relay: String
    @Option(name: .customLong("relay-id")) var relayId: String
    @Option var connections = 20_000
    @Option var concurrency = 16

    func run() throws {
        let at = try endpoint(relay)
        let relayKey = try EndpointId(parsing: relayId)
        let server = EndpointIdentity.generate()
        let logger = Logger(label: "soak", level: .error)
        let echo = RelayListener(relay: at, relayId: relayKey, identity: server, logger: logger) { token, _ in
            try? OSThread.detach(name: "soak-echo") {
                guard
                    let (stream, _) = try? RelayClient.register(
                        .accept(token: token), at: at, relayId: relayKey, identity: server)
                else { return }
                var buffer = [UInt8](repeating: 0, count: 4096)
                while let n = try? stream.read(into: &buffer), n > 0 { try? stream.writeAll(buffer[0..<n]) }
                stream.close()
            }
        }
        echo.start()
        var waited = 0
        while !echo.isRegistered, waited < 300 {
            usleep(100_000)
            waited += 1
        }
        guard echo.isRegistered else { throw ValidationError("the echo server did not register at \(relay)") }
        let next = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let splices = Atomic<Int>(0)
        let total = connections
        let start = monotonicSeconds()
        try inParallel(concurrency, name: "soak") { _ in
            while true {
                let i = next.add(1, ordering: .relaxed).newValue
                if i > total { return }
                do {
                    switch i % 4 {
                    case 0, 1:  // open and close
                        TCP.connect(to: at).close()
                    case 2:  // a registration that leaves at once
                        let (stream, _) = try RelayClient.register(
                            .listen, at: at, relayId: relayKey, identity: .generate())
                        stream.close()
                    default:  // a client (each a laptop of its own) spliced to the echo server
                        let (stream, _) = try RelayClient.register(
                            .connect(target: server.endpointId), at: at, relayId: relayKey, identity: .generate())
                        let message = Array("soak \(i)".utf8)
                        try stream.writeAll(message)
                        var buffer = [UInt8](repeating: 0, count: 64)
                        var got: [UInt8] = []
                        while got.count < message.count {
                            let n = try stream.read(into: &buffer)
                            if n == 0 { break }
                            got += buffer[0..<n]
                        }
                        stream.close()
                        guard got == message else { throw ValidationError("echo \(i) came back wrong") }
                        splices.add(1, ordering: .relaxed)
                    }
                } catch {
                    if failures.add(1, ordering: .relaxed).newValue <= 10 { say("soak \(i): \(error)") }
                }
            }
        }
        echo.stop()
        let elapsed = monotonicSeconds() - start
        say(
            "result: relay-soak connections \(total) splices \(splices.load(ordering: .relaxed)) "
                + "failures \(failures.load(ordering: .relaxed)) seconds \(Int(elapsed))")
    }
}

extension TCP {
    /// Connects and gives up silently (the soak's "open and close").
    static func connect(to endpoint: Endpoint) -> Closable {
        Closable(socket: try? TCP.connect(to: endpoint, timeoutSeconds: 5))
    }
}

struct Closable {
    let socket: Socket?
    func close() { socket?.close() }
}
