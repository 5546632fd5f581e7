// Measures what a session costs over the paths it runs on, in one run on loopback:
//   tcp            plain TCP, no session (the floor)
//   session        the session's framing over plain TCP, no TLS
//   session+tls    the product's direct path: the session over mutual TLS 1.3
//   session+tls-openssl  the same with OpenSSL's record layer after the handshake, not ours
//   session+ktls   the same with kernel TLS after the handshake (Linux with the tls module;
//                  where it is missing the line says so and the path is our record layer)
//   session+relay  the product's relayed path: the same through usbp2p-relay (TLS inside TLS)
// Each path carries one channel to an echo: throughput is a one-way stream of 64 MiB into
// the echo and back out (bytes counted at the far end), latency is 512-byte round trips.
// On the session paths the echo is a channel handler, as usbp2pd's USB/IP connections are
// (fed by the session's reader, sending straight back into the session). The CPU column is
// the process's user and system time per MiB streamed (into the echo and back out), all
// threads of both ends: on a shared machine it moves far less than the wall clock does.
// Usage: SessionPaths [MiB] [ROUND-TRIPS] [PATH...] (all six paths when none is named;
// one path alone is for a profiler)
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

let megabytes = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 64 : 64
let roundTrips = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 2000 : 2000
let quiet = Logger(label: "bench", level: .critical)
let pi = EndpointIdentity.generate()
let laptop = EndpointIdentity.generate()
/// The TLS streams of the path being measured, to say afterwards whether the kernel had them.
let streams = Mutex<[TLSStream]>([])

func kept(_ stream: TLSStream) -> TLSStream {
    streams.withLock { $0.append(stream) }
    return stream
}

/// Echoes a socket's bytes back until it closes.
func echo(_ socket: any ByteStream) {
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while let n = try? socket.read(into: &buffer), n > 0 {
        guard (try? socket.writeAll(buffer[0..<n])) != nil else { break }
    }
    socket.shutdown()
}

/// The server's end of a session channel, as usbp2pd has it: no socket, no thread.
final class EchoHandler: ChannelHandler {
    let sender: ChannelSender
    init(_ sender: ChannelSender) { self.sender = sender }
    func received(_ bytes: ArraySlice<UInt8>) { sender.send(bytes) }
    func closed(_ reason: String) {}
}

/// A connected "channel" to an echo over the given path.
func openPath(_ name: String) throws -> (channel: any ByteStream, stop: () -> Void) {
    let listener = try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: 0))
    switch name {
    case "tcp":
        _ = try OSThread.detach(name: "bench-echo") { if let s = try? listener.accept() { echo(s) } }
        return (try TCP.connect(to: listener.endpoint), { listener.socket.shutdown() })
    default:
        let tls = name != "session"
        let records: TLSContext.RecordLayer =
            switch name {
            case "session+tls-openssl": .openSSL
            case "session+ktls": .kernel
            default: .ours
            }
        let serverTLS = try TLSContext(role: .server, identity: pi, protocols: ["usbp2p/1"], recordLayer: records) {
            _ in nil
        }
        let clientTLS = try TLSContext(
            role: .client, identity: laptop, protocols: ["usbp2p/1"], recordLayer: records,
            admitting: { peer, _ in peer == pi.endpointId ? nil : "not the pi" })
        var configuration = SessionConfiguration()
        configuration.channelWindow = 4 << 20
        let registry = SessionRegistry(configuration: configuration, logger: quiet) { _ in
            SessionEvents(openChannel: { _, sender in .handler(EchoHandler(sender)) })
        }
        let serve: @Sendable (any ByteStream) -> Void = { transport in
            guard
                let stream: any ByteStream = tls
                    ? (try? TLSStream(socket: transport, context: serverTLS)).map(kept) : transport
            else { return }
            _ = try? registry.accept(stream, peer: "laptop")
        }
        var relay: RelayServer?
        var relayListener: RelayListener?
        if name == "session+relay" {
            let server = try RelayServer(
                identity: .generate(), endpoint: Endpoint(host: "127.0.0.1", port: 0), logger: quiet)
            server.start()
            let address = server.listener.endpoint
            relayListener = RelayListener(relay: address, relayId: nil, identity: pi, logger: quiet) { token, _ in
                try? OSThread.detach(name: "bench-relayed") {
                    if let (stream, _) = try? RelayClient.register(
                        .accept(token: token), at: address, relayId: nil, identity: pi)
                    {
                        serve(stream)
                    }
                }
            }
            relayListener!.start()
            while relayListener!.observedAddress == nil { usleep(10_000) }
            relay = server
        } else {
            _ = try OSThread.detach(name: "bench-accept") { if let s = try? listener.accept() { serve(s) } }
        }
        let relayAddress = relay?.listener.endpoint
        let client = SessionClient(peerName: "pi", configuration: configuration, logger: quiet) {
            let transport: any ByteStream =
                if let relayAddress {
                    try RelayClient.register(
                        .connect(target: pi.endpointId), at: relayAddress, relayId: nil, identity: laptop
                    ).stream
                } else {
                    try TCP.connect(to: listener.endpoint)
                }
            return (tls ? kept(try TLSStream(socket: transport, context: clientTLS)) : transport, "benchmark")
        }
        let session = try client.start()
        let channel = try session.openChannel()
        return (
            channel,
            {
                client.stop(reason: "done")
                relayListener?.stop()
                relay?.stop()
                listener.socket.shutdown()
            }
        )
    }
}

func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return right ? fill + text : text + fill
}

func twoDecimals(_ x: Double) -> String {
    let hundredths = Int((x * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

/// The CPU time this process has used, user and system, in seconds: every thread of both
/// ends counts. Less disturbed than the wall clock by what else runs on the machine.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

func measure(_ name: String) throws -> (mbps: Double, rttMicros: Double, cpuMillisPerMiB: Double) {
    let (channel, stop) = try openPath(name)
    defer { stop() }
    // Latency first, on an idle path.
    let message = [UInt8](repeating: 0x5a, count: 512)
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    var samples: [Double] = []
    for _ in 0..<roundTrips {
        let start = monotonicSeconds()
        try channel.writeAll(message)
        var got = 0
        while got < message.count { got += try channel.read(into: &buffer) }
        samples.append(monotonicSeconds() - start)
    }
    samples.sort()
    // Throughput: write the bytes while a thread reads the echo back.
    let total = megabytes << 20
    let start = monotonicSeconds()
    let cpuStart = processCPUSeconds()
    let writer = try OSThread.start(name: "bench-writer") {
        let chunk = [UInt8](repeating: 0xa5, count: 64 * 1024)
        var sent = 0
        while sent < total {
            try? channel.writeAll(chunk)
            sent += chunk.count
        }
    }
    var received = 0
    while received < total {
        let n = try channel.read(into: &buffer)
        if n == 0 { break }
        received += n
    }
    writer.join()
    let seconds = monotonicSeconds() - start
    let cpu = processCPUSeconds() - cpuStart
    return (
        Double(received) / seconds / 1e6, samples[samples.count / 2] * 1e6,
        cpu * 1e3 / Double(max(1, received >> 20))
    )
}

print("session paths on loopback: \(megabytes) MiB each way through an echo, \(roundTrips) round trips of 512 B")
print("path                  MB/s   ×tcp   median RTT µs   ×tcp   CPU ms/MiB   ×tcp")
var baseline: (mbps: Double, rttMicros: Double, cpuMillisPerMiB: Double)?
let allPaths = ["tcp", "session", "session+tls", "session+tls-openssl", "session+ktls", "session+relay"]
let chosen = CommandLine.arguments.count > 3 ? Array(CommandLine.arguments[3...]) : allPaths
if let unknown = chosen.first(where: { !allPaths.contains($0) }) {
    print("SessionPaths: no path \(unknown); the paths are \(allPaths.joined(separator: ", "))")
    exit(2)
}
for name in chosen {
    streams.withLock { $0 = [] }
    let result = try measure(name)
    if name == "session+ktls" {
        let inKernel = streams.withLock { $0.map { $0.recordsInKernel } }
        if !inKernel.contains(where: { $0.sending && $0.receiving }) {
            print("  (no kernel TLS here: \(inKernel); the line below is our record layer)")
        }
    }
    let base = baseline ?? result
    if baseline == nil { baseline = result }
    print(
        pad(name, 19), pad("\(Int(result.mbps.rounded()))", 6, right: true),
        pad(twoDecimals(result.mbps / base.mbps), 6, right: true),
        pad("\(Int(result.rttMicros.rounded()))", 15, right: true),
        pad(twoDecimals(result.rttMicros / base.rttMicros), 6, right: true),
        pad(twoDecimals(result.cpuMillisPerMiB), 12, right: true),
        pad(twoDecimals(result.cpuMillisPerMiB / base.cpuMillisPerMiB), 6, right: true))
}
