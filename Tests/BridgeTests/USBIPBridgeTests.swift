import DeviceChoice
import FileSystem
import Log
import OSThreads
import Sockets
import Synchronization
import Testing
import USBIP

@testable import Bridge

#if canImport(Glibc)
    import Glibc
#endif

/// The server's side as the bridge sees it: what it offers, and the connections handed to it.
final class FakeUpstream: BridgeUpstream, @unchecked Sendable {
    let offer: Mutex<Result<([ExportedDevice], [String: String]), BridgeFailure>>
    /// The connections carried, with the request that went first.
    let carried = Mutex<[(Socket, [UInt8])]>([])
    private let handedOn = Monitor()
    private var count = 0

    init(_ devices: [ExportedDevice], names: [String: String] = [:]) {
        offer = Mutex(.success((devices, names)))
    }

    func offeredDevices() throws -> (devices: [ExportedDevice], names: [String: String]) {
        let (devices, names) = try offer.withLock { try $0.get() }
        return (devices, names)
    }

    func carry(_ client: Socket, request: [UInt8]) throws {
        carried.withLock { $0.append((client, request)) }
        handedOn.withLock {
            count += 1
            handedOn.broadcast()
        }
    }

    /// Waits until a connection has been carried (10 s at most).
    func waitForCarry() -> Bool {
        handedOn.withLock { handedOn.wait(until: monotonicSeconds() + 10) { count > 0 } }
    }
}

struct BridgeFailure: Error, CustomStringConvertible {
    var description: String { "the server cannot be reached" }
}

@Suite struct USBIPBridgeTests {
    static func device(_ busid: String, interfaces: [(UInt8, UInt8, UInt8)] = [(8, 6, 80)]) -> ExportedDevice {
        ExportedDevice(
            path: "/sys/devices/\(busid)", busid: busid, busnum: 1, devnum: 2, speed: .high, idVendor: 0x46f4,
            idProduct: 1, bcdDevice: 0x100, bDeviceClass: 0, bDeviceSubClass: 0, bDeviceProtocol: 0,
            bConfigurationValue: 1, bNumConfigurations: 1, bNumInterfaces: UInt8(interfaces.count),
            interfaces: interfaces.map {
                InterfaceSummary(bInterfaceClass: $0.0, bInterfaceSubClass: $0.1, bInterfaceProtocol: $0.2)
            })!
    }

    let stick = device("2-1")
    let keyboard = device("2-2", interfaces: [(3, 1, 1)])
    let gadget = device("3-1", interfaces: [(255, 0, 0)])
    let names = ["2-1": "QEMU QEMU HARDDRIVE", "2-2": "QEMU QEMU USB Keyboard", "3-1": "Linux USB SourceSink"]

    func bridge(
        _ upstream: FakeUpstream, devices: [DeviceSelector] = [], opPhaseSeconds: Double = 30,
        localUsers: (@Sendable (uid_t) -> Bool)? = nil
    ) throws -> USBIPBridge {
        let bridge = try USBIPBridge(
            settings: .init(
                endpoint: Endpoint(host: "127.0.0.1", port: 0), devices: devices, opPhaseSeconds: opPhaseSeconds,
                localUsers: localUsers),
            upstream: upstream, log: Logger(label: "test", level: .critical))
        try bridge.start()
        return bridge
    }

    func connect(_ bridge: USBIPBridge) throws -> Socket {
        try TCP.connect(to: bridge.endpoint, timeoutSeconds: 5)
    }

    /// Everything the bridge writes until it closes the connection (a close with bytes
    /// of ours unread is a reset).
    func readToEnd(_ socket: Socket) throws -> [UInt8] {
        socket.setReceiveTimeout(seconds: 10)
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var n = 0
            do throws(SystemError) { n = try socket.read(into: &buffer) } catch {
                if error.errno == ECONNRESET { return all }
                throw error
            }
            if n == 0 { return all }
            all += buffer[0..<n]
        }
    }

    /// The busids of the device list a new connection gets from `bridge`; nil (with an
    /// issue recorded) when the reply is not a list with status OK.
    func listedBusids(_ bridge: USBIPBridge) throws -> [String]? {
        let client = try connect(bridge)
        try client.writeAll(USBIPMessage.requestDeviceList.encoded)
        guard case .replyDeviceList(.ok, let devices) = try reply(try readToEnd(client)) else {
            Issue.record("no device list")
            return nil
        }
        return devices.map(\.busid)
    }

    func reply(_ bytes: [UInt8]) throws -> USBIPMessage? {
        try USBIPMessage.decode(from: bytes[...], receiver: .client)?.message
    }

    @Test func theDeviceListIsWhatTheServerOffersLessKeyboardsUnlessNamed() throws {
        let upstream = FakeUpstream([stick, keyboard, gadget], names: names)
        let everything = try bridge(upstream)
        defer { everything.stop() }
        #expect(try listedBusids(everything) == ["2-1", "3-1"])

        let named = try bridge(upstream, devices: [.name("keyboard"), .name("harddrive")])
        defer { named.stop() }
        #expect(try listedBusids(named) == ["2-1", "2-2"])
        #expect(named.counts.listed == 1)
    }

    @Test func aLocalUserTheBridgeDoesNotAllowIsClosedWithNothingListedOrHandedOn() throws {
        let asked = Mutex<[uid_t]>([])
        let upstream = FakeUpstream([stick], names: names)
        let bridge = try bridge(upstream) { uid in
            asked.withLock { $0.append(uid) }
            return false
        }
        defer { bridge.stop() }
        for request in [USBIPMessage.requestDeviceList.encoded, USBIPMessage.requestImport(busid: "2-1").encoded] {
            let client = try connect(bridge)
            try? client.writeAll(request)
            #expect(try readToEnd(client).isEmpty)
        }
        #expect(asked.withLock { $0 } == [geteuid(), geteuid()])
        #expect(upstream.carried.withLock { $0.isEmpty })
        #expect(bridge.counts == .init(listed: 0, imported: 0, refused: 2))
    }

    @Test func aLocalUserTheBridgeAllowsIsServed() throws {
        let upstream = FakeUpstream([stick], names: names)
        let bridge = try bridge(upstream) { $0 == geteuid() }
        defer { bridge.stop() }
        #expect(try listedBusids(bridge) == ["2-1"])
    }

    @Test func anImportOfAServedDeviceHandsTheConnectionOnWithExactlyItsRequestRead() throws {
        let upstream = FakeUpstream([stick], names: names)
        let bridge = try bridge(upstream)
        defer { bridge.stop() }
        let client = try connect(bridge)
        let request = USBIPMessage.requestImport(busid: "2-1").encoded
        // What follows the request is the URB phase's, not the bridge's to read.
        try client.writeAll(request + [0xAA, 0xBB])
        #expect(upstream.waitForCarry())
        let (carried, first) = upstream.carried.withLock { $0[0] }
        #expect(first == request)
        var next = [UInt8](repeating: 0, count: 2)
        carried.setReceiveTimeout(seconds: 10)
        #expect(try carried.read(into: &next) == 2)
        #expect(next == [0xAA, 0xBB])
        #expect(bridge.counts.imported == 1)
    }

    @Test func anImportOfADeviceTheBridgeDoesNotServeIsRefusedAsNoSuchDevice() throws {
        let upstream = FakeUpstream([stick, keyboard], names: names)
        let bridge = try bridge(upstream)
        defer { bridge.stop() }
        for busid in ["2-2", "9-9"] {  // a keyboard not named; a device the server lacks
            let client = try connect(bridge)
            try client.writeAll(USBIPMessage.requestImport(busid: busid).encoded)
            #expect(try reply(try readToEnd(client)) == .replyImport(status: .noDevice, device: nil))
        }
        #expect(upstream.carried.withLock { $0.isEmpty })
        #expect(bridge.counts.refused == 2)
    }

    @Test func aServerOutOfReachIsAnErrorReplyNotASilentClose() throws {
        let upstream = FakeUpstream([stick])
        upstream.offer.withLock { $0 = .failure(BridgeFailure()) }
        let bridge = try bridge(upstream)
        defer { bridge.stop() }
        let lister = try connect(bridge)
        try lister.writeAll(USBIPMessage.requestDeviceList.encoded)
        #expect(try reply(try readToEnd(lister)) == .replyDeviceList(status: .error, devices: []))
        let importer = try connect(bridge)
        try importer.writeAll(USBIPMessage.requestImport(busid: "2-1").encoded)
        #expect(try reply(try readToEnd(importer)) == .replyImport(status: .error, device: nil))
    }

    @Test func garbageAURBOutOfPlaceAndAStalledRequestAreClosedWithNothingHandedOn() throws {
        let upstream = FakeUpstream([stick], names: names)
        let bridge = try bridge(upstream, opPhaseSeconds: 0.5)
        defer { bridge.stop() }
        let garbage = try connect(bridge)
        try garbage.writeAll(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        #expect(try readToEnd(garbage).isEmpty)
        let urb = try connect(bridge)
        try urb.writeAll(
            USBIPMessage.unlink(UnlinkCommand(seqnum: 1, devid: 0, unlinkSeqnum: 0))
                .encoded)
        #expect(try readToEnd(urb).isEmpty)
        let stalled = try connect(bridge)
        try stalled.writeAll([0x01, 0x11, 0x80])  // three bytes of a header, then nothing
        #expect(try readToEnd(stalled).isEmpty)  // cut at the op phase's deadline
        #expect(upstream.carried.withLock { $0.isEmpty })
    }

    @Test func stoppingEndsOpPhasesUnderWayAndTheImportsItPassedOnAndFreesThePort() throws {
        let upstream = FakeUpstream([stick])
        let bridge = try bridge(upstream)
        let importer = try connect(bridge)
        try importer.writeAll(USBIPMessage.requestImport(busid: "2-1").encoded)
        #expect(upstream.waitForCarry())
        let stalled = try connect(bridge)
        try stalled.writeAll([0x01])
        bridge.stop()  // joins the stalled op phase's thread: it must not wait out 30 s
        #expect(try readToEnd(stalled).isEmpty)
        #expect(try readToEnd(importer).isEmpty)  // its import ends with the bridge
        let again = try USBIPBridge(
            settings: .init(endpoint: bridge.endpoint, devices: []), upstream: upstream,
            log: Logger(label: "test", level: .critical))
        again.stop()
    }

    @Test func aRequestIsReadToItsEndAndNoFurther() {
        #expect(USBIPBridge.requestBytesMissing([]) == 8)
        #expect(USBIPBridge.requestBytesMissing([1, 0x11, 0x80, 0x05]) == 4)
        #expect(USBIPBridge.requestBytesMissing(USBIPMessage.requestDeviceList.encoded) == 0)
        let importRequest = USBIPMessage.requestImport(busid: "2-1").encoded
        #expect(importRequest.count == 40)
        #expect(USBIPBridge.requestBytesMissing(Array(importRequest[0..<8])) == 32)
        #expect(USBIPBridge.requestBytesMissing(importRequest) == 0)
    }
}
