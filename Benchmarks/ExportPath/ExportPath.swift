import Benchmark
import ByteBuffers
import Exporter
import Identity
import Log
import OSThreads
import Secure
import Session
import Sockets
import Synchronization
import USBHost
import USBIP

// What one URB costs on the product's encrypted path, counted in allocations: a client
// writes CMD_SUBMIT into its channel's socket (as vhci_hcd does on the laptop), the
// session carries it over TLS on loopback, usbp2pd's side decodes it as `USBIPChannel`
// does (the stream decoder, then `ImportSession`) and submits it to a device that
// completes at once, and the reply goes back the same way (encoded into the session's
// pooled frame storage) into the client's socket, where it is read. One round trip per
// iteration, 512 bytes IN or OUT. Every thread of both ends counts (the interposer sees
// them all). libusb's own allocations (a transfer per URB) are not in it: the device is
// a fake; USBIPConnection's op phase and lock are not either (nothing allocates there).
//
// The target is 0 allocations per URB in steady state; scripts/bench holds this
// benchmark to at most what it measured (see there) until it gets there.

/// Completes every transfer at once, on the submitting thread (allowed: "possibly before
/// this returns"), with data from one block and one handle for all (nothing allocated).
final class InstantDevice: URBDevice, @unchecked Sendable {
    let busid = "9-9"
    private let block = FixedBytes(copying: [UInt8](repeating: 0xa5, count: 64 * 1024))
    private let handle = Handle()

    final class Handle: SubmittedURB, @unchecked Sendable {
        func cancel() {}
    }

    func transferType(endpoint: UInt8) -> USBTransferType? { endpoint & 0x7f == 0 ? .control : .bulk }

    func submit(_ request: URBRequest, tag: UInt32, completion: any USBTransferCompletion)
        throws(USBError) -> any SubmittedURB
    {
        let isIn = request.endpoint & 0x80 != 0
        let count = isIn ? request.length : request.outData.count
        completion.transferCompleted(
            tag, USBTransferResult(status: .completed, actualLength: count, data: block.slice(0..<(isIn ? count : 0))))
        return handle
    }

    func clearHalt(endpoint: UInt8) throws(USBError) {}
    func setInterface(_ interface: Int32, alternateSetting: Int32) throws(USBError) {}
    func setConfiguration(_ value: Int32) throws(USBError) {}
    func reset() throws(USBError) {}
}

/// usbp2pd's end of the channel, as `USBIPChannel` and `USBIPConnection` run it.
final class ExportHandler: ChannelHandler, @unchecked Sendable {
    static let devid: UInt32 = 0x0009_0009
    private var decoder = USBIPStreamDecoder(receiver: .server)
    private let session: ImportSession

    init(_ sender: ChannelSender) {
        session = ImportSession(
            device: InstantDevice(), devid: Self.devid, logger: Logger(label: "bench", level: .critical),
            send: { message in _ = sender.send(byteCount: message.wireLength ?? 0) { message.encode(into: &$0) } },
            deviceGone: {})
    }

    func received(_ bytes: ArraySlice<UInt8>) {
        decoder.append(bytes)
        while let message = try? decoder.next() { try? session.handle(message) }
    }

    func closed(_ reason: String) { session.end() }
}

/// A session over TLS on loopback with one channel to an `ExportHandler`.
final class ExportPath: @unchecked Sendable {
    let channel: Socket
    private let client: SessionClient
    private let listener: TCP.Listener
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    /// Encoded once: the benchmark's own side allocates nothing per URB (a seqnum may be
    /// used again once its URB is answered).
    private let submitIn: [UInt8]
    private let submitOut: [UInt8]
    static let length = 512

    struct ChannelClosed: Error {}

    init() throws {
        let pi = EndpointIdentity.generate()
        let laptop = EndpointIdentity.generate()
        let quiet = Logger(label: "bench", level: .critical)
        listener = try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: 0))
        let serverTLS = try TLSContext(role: .server, identity: pi, protocols: ["usbp2p/1"]) { _ in nil }
        let clientTLS = try TLSContext(clientFor: pi.endpointId, identity: laptop, protocols: ["usbp2p/1"])
        let registry = SessionRegistry(configuration: SessionConfiguration(), logger: quiet) { _ in
            SessionEvents(openChannel: { _, sender in .handler(ExportHandler(sender)) })
        }
        let listener = self.listener
        _ = try OSThread.detach(name: "bench-accept") {
            guard let socket = try? listener.accept(), let stream = try? TLSStream(socket: socket, context: serverTLS)
            else { return }
            _ = try? registry.accept(stream, peer: "laptop")
        }
        client = SessionClient(peerName: "pi", configuration: SessionConfiguration(), logger: quiet) {
            (try TLSStream(socket: try TCP.connect(to: listener.endpoint), context: clientTLS), "benchmark")
        }
        channel = try client.start().openChannel()
        submitIn =
            USBIPMessage.submit(
                SubmitCommand(
                    seqnum: 1, devid: ExportHandler.devid, direction: .in, ep: 1,
                    transferBufferLength: UInt32(Self.length))
            ).encoded
        submitOut =
            USBIPMessage.submit(
                SubmitCommand(
                    seqnum: 2, devid: ExportHandler.devid, direction: .out, ep: 1,
                    transferBufferLength: UInt32(Self.length),
                    transferBuffer: ArraySlice(repeating: 0x5a, count: Self.length))
            ).encoded
    }

    /// One URB of 512 bytes, IN or OUT, there and back: CMD_SUBMIT written, its RET_SUBMIT
    /// (a 48-byte header, and the data for IN) read whole.
    func roundTrip(in isIn: Bool) throws {
        try channel.writeAll(isIn ? submitIn : submitOut)
        let expected = 48 + (isIn ? Self.length : 0)
        var got = 0
        while got < expected {
            let n = try channel.read(into: &buffer, from: 0)
            guard n > 0 else { throw ChannelClosed() }
            got += n
        }
    }
}

nonisolated(unsafe) var path: ExportPath?

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput], timeUnits: .microseconds, warmupIterations: 200,
        maxDuration: .seconds(3), maxIterations: 20_000)

    for (name, isIn) in [
        ("URB-IN-512-through-session-and-export", true), ("URB-OUT-512-through-session-and-export", false),
    ] {
        Benchmark(name) { benchmark in
            for _ in benchmark.scaledIterations { try? path?.roundTrip(in: isIn) }
        } setup: {
            if path == nil { path = try ExportPath() }
        }
    }
}
