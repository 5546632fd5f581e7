import ByteBuffers
import Log
import OSThreads
import Synchronization
import USBHost
import USBIP

/// One USB/IP connection's protocol without its I/O: bytes in (`receive`), messages out
/// through `Output`. The op phase takes one request: a device list (answered, and the
/// connection is done) or an import, after which the URB phase runs through an
/// `ImportSession` and an `ImportKeeper` (the import's own thread, which ends it).
///
/// Two drivers feed it: `USBIPServer`'s thread per TCP connection (replies through a
/// `ReplyWriter`), and a session channel (`USBIPChannel`: the session's reader hands it
/// the bytes, its replies are framed straight into the session).
///
/// Threads: `receive` is called by one thread at a time (the driver's reader); `closed`
/// by any thread, holding any lock (the USB thread while it sends the import's replies,
/// when one overflows the session): it only flags and asks the keeper, never waits.
public final class USBIPConnection: @unchecked Sendable {
    /// Where the connection's messages go.
    public struct Output: Sendable {
        /// Queues one message for the peer. Never blocks: it runs on the USB thread.
        public var send: @Sendable (OutboundMessage) -> Void
        /// Shuts the connection down; its driver then calls `closed`.
        public var shutdown: @Sendable () -> Void

        public init(send: @escaping @Sendable (OutboundMessage) -> Void, shutdown: @escaping @Sendable () -> Void) {
            self.send = send
            self.shutdown = shutdown
        }
    }

    /// Whether the connection wants more bytes.
    public enum Progress: Equatable, Sendable {
        case more
        /// It is over (answered, refused, or broken): the driver ends it and calls `closed`.
        case done
    }

    private let server: USBIPServer
    /// Shown in logs: who is at the other end.
    let peer: String
    let owner: String
    private let allows: @Sendable (USBDeviceInfo) -> Bool
    private let output: Output
    /// Gives back the connection's op-phase slot, and its place among the server's
    /// connections.
    private let opPhaseOver: OnceFlag
    private let over: OnceFlag
    private let deadline: Deadlines.Token

    /// Guards `phase`: held while `receive` handles messages, and by the keeper while it
    /// ends the import (so no URB is submitted after the device is released).
    private let lock = Monitor()
    /// The driver's reader's alone (`receive`, `partialMessageBytes`): a read lands in it
    /// without the lock, so the keeper never waits for a peer's bytes.
    private var reader = USBIPServerReader()
    private var phase = Phase.opRequest
    private enum Phase {
        case opRequest
        case importing(ImportSession)
        case over
    }
    private let ended = Atomic<Bool>(false)
    private let keeper = Mutex<ImportKeeper?>(nil)

    init(
        server: USBIPServer, peer: String, owner: String, allows: @escaping @Sendable (USBDeviceInfo) -> Bool,
        output: Output, opPhaseOver: OnceFlag, over: OnceFlag
    ) {
        self.server = server
        self.peer = peer
        self.owner = owner
        self.allows = allows
        self.output = output
        self.opPhaseOver = opPhaseOver
        self.over = over
        // The whole op request within the limit, however it trickles in.
        deadline = server.deadlines.schedule(after: Double(USBIPServer.opPhaseTimeoutSeconds)) {
            output.shutdown()
        }
    }

    /// What one read asks room for in the decoder's storage.
    static let readRoom = 64 * 1024

    /// Bytes from the peer, in order. `.done` once the connection has nothing more to do.
    public func receive(_ bytes: some Collection<UInt8>) -> Progress {
        guard !ended.load(ordering: .sequentiallyConsistent) else { return .done }
        reader.append(bytes)
        return handleWhatIsWhole()
    }

    /// OUT URBs of at least this many bytes to a bulk endpoint take their data straight
    /// from the socket into the transfer's buffer (`USBIPServerReader`); smaller ones
    /// copy little.
    static let directOUTMinimum = 4096

    /// Reads once from the peer and handles what became whole. Nil when the peer's
    /// stream ended. `read` reads into the decoder's storage (the array, the offset to
    /// write at, at most how many bytes), `readInto` into a transfer's buffer: a bulk
    /// OUT URB's data is not copied on its way to the transfer (`USBIPServerReader`).
    public func receive<Failure: Error>(
        reading read: (inout [UInt8], Int, Int) throws(Failure) -> Int,
        readingInto readInto: (UnsafeMutableRawBufferPointer) throws(Failure) -> Int
    ) throws(Failure) -> Progress? {
        guard !ended.load(ordering: .sequentiallyConsistent) else { return .done }
        switch try reader.read(room: Self.readRoom, read, into: readInto) {
        case .ended:
            return nil
        case .outData(let command, let data):
            return handleOUT(command, data)
        case .more:
            let progress = handleWhatIsWhole()
            if progress == .more { takeOUTHeader() }
            return progress
        }
    }

    /// The reader: when what waits is the header of a bulk OUT URB whose data is still
    /// to come, that data is read into its transfer's buffer. Under the lock: the device
    /// is asked for the buffer (its endpoint's type) only while the import holds it.
    private func takeOUTHeader() {
        lock.withLock {
            guard !ended.load(ordering: .sequentiallyConsistent), case .importing(let session) = phase else { return }
            reader.takeOUTSubmitHeader(minimum: Self.directOUTMinimum) { session.outBuffer(for: $0) }
        }
    }

    /// A bulk OUT URB whose data was read into `data`.
    private func handleOUT(_ command: SubmitCommand, _ data: FixedBytes) -> Progress {
        lock.withLock {
            guard !ended.load(ordering: .sequentiallyConsistent), case .importing(let session) = phase else {
                return .done
            }
            do throws(ImportSession.ProtocolError) { try session.handle(command, data: data) } catch {
                return fail("\(error)")
            }
            return .more
        }
    }

    private func handleWhatIsWhole() -> Progress {
        lock.withLock {
            guard !ended.load(ordering: .sequentiallyConsistent) else { return .done }
            while true {
                let message: USBIPMessage
                do {
                    guard let next = try reader.next() else { return .more }
                    message = next
                } catch {
                    return fail("\(error)")
                }
                switch phase {
                case .opRequest:
                    _ = server.deadlines.cancel(deadline)
                    opPhaseOver.run()
                    if answer(message) == .done {
                        phase = .over
                        return .done
                    }
                case .importing(let session):
                    do throws(ImportSession.ProtocolError) { try session.handle(message) } catch {
                        return fail("\(error)")
                    }
                case .over:
                    return .done
                }
            }
        }
    }

    /// Bytes of a message begun and not yet whole (the driver's reader only).
    public var partialMessageBytes: Int { reader.partialMessageBytes }

    /// The connection is over (its end of stream, a shutdown, the session ended): ends
    /// the import, if any, on the import's own thread. Returns at once.
    public func closed(_ reason: String) {
        guard !ended.exchange(true, ordering: .sequentiallyConsistent) else { return }
        _ = server.deadlines.cancel(deadline)
        opPhaseOver.run()
        if let keeper = keeper.withLock({ $0 }) {
            keeper.finish(reason)
        } else {
            over.run()
        }
    }

    /// Waits until the import, if there was one, has ended and its device is released.
    /// Only after `closed`.
    public func waitUntilReleased() {
        keeper.withLock { $0 }?.waitUntilEnded()
    }

    /// A broken stream (lock held): in the op phase the connection simply closes; in
    /// the URB phase the import ends with why.
    private func fail(_ reason: String) -> Progress {
        if case .importing = phase {
            keeper.withLock { $0 }?.finish(reason)
        } else {
            server.noisy.log(server.logger, .info, kind: "closed", "\(peer): closed: \(reason)")
        }
        phase = .over
        return .done
    }

    /// The op request (lock held): `.more` when an import began.
    private func answer(_ request: USBIPMessage) -> Progress {
        switch request {
        case .requestDeviceList:
            do {
                let devices = try server.exporter.deviceList(where: allows)
                output.send(OutboundMessage(USBIPMessage.replyDeviceList(status: .ok, devices: devices)))
                server.logger.info("\(peer): listed \(devices.count) devices")
            } catch {
                server.logger.warning("\(peer): device list: \(error)")
                output.send(OutboundMessage(USBIPMessage.replyDeviceList(status: .error, devices: [])))
            }
            return .done
        case .requestImport(let busid):
            return beginImport(busid)
        default:
            server.logger.info("\(peer): closed: \(request.kind) before an import")
            return .done
        }
    }

    /// Lock held.
    private func beginImport(_ busid: String) -> Progress {
        let exporter = server.exporter
        let logger = server.logger
        let handle: USBDeviceHandle
        let facts: USBDeviceInfo
        let devid: UInt32
        do throws(USBIPExporter.ImportRefusal) {
            let device: ExportedDevice
            (handle, device, facts) = try exporter.beginImport(busid: busid, allows: allows)
            devid = device.devid
            output.send(OutboundMessage(USBIPMessage.replyImport(status: .ok, device: device)))
        } catch {
            logger.notice("\(peer): import of \(busid) refused: \(error)")
            server.importEvents(.refused(owner: owner, busid: busid, reason: "\(error)"))
            output.send(OutboundMessage(USBIPMessage.replyImport(status: error.status, device: nil)))
            return .done
        }
        logger.notice("\(peer): imported \(busid)")
        server.importEvents(.imported(owner: owner, device: facts))
        exporter.counters.imports.add(1, ordering: .relaxed)

        let session = ImportSession(
            device: handle, devid: devid, logger: logger, counters: exporter.counters,
            maxInFlightBytes: exporter.transferShare, send: output.send,
            deviceGone: { [weak self] in self?.deviceGone(busid) })
        let number = server.register(
            USBIPServer.LiveImport(
                device: facts, owner: owner, peer: peer, allows: allows,
                end: { [weak self, peer, logger] in
                    guard let self, let keeper = keeper.withLock({ $0 }) else { return }
                    logger.notice(
                        "\(peer): may no longer use \(busid) (unshared, or the rules changed); ending the import")
                    keeper.finish("no longer allowed")
                    output.shutdown()
                },
                checkPresence: { [weak self] in self?.keeper.withLock { $0 }?.checkNow() }))
        let started: ImportKeeper
        do throws(ThreadStartError) {
            started = try ImportKeeper(
                busid: busid, devnum: handle.info.address,
                gone: { [weak self] in self?.deviceGone(busid) },
                end: { [self] reason in
                    // No URB is submitted from here on; then the ones in flight are
                    // cancelled and the device released.
                    lock.withLock { phase = .over }
                    session.end()
                    exporter.endImport(handle)
                    server.unregister(number)
                    logger.notice("\(peer): released \(busid) (\(reason))")
                    server.importEvents(.released(owner: owner, device: facts, reason: reason))
                    over.run()
                })
        } catch {
            logger.warning("\(peer): import of \(busid) ended: \(error)")
            server.unregister(number)
            exporter.endImport(handle)
            return .done
        }
        phase = .importing(session)
        keeper.withLock { $0 = started }
        // `closed` may have come meanwhile, finding no keeper to ask.
        if ended.load(ordering: .sequentiallyConsistent) { started.finish("client closed the connection") }
        return .more
    }

    /// A transfer or the keeper found the device gone: the import ends as if unplugged.
    private func deviceGone(_ busid: String) {
        server.logger.notice("\(busid) is gone; ending the import")
        keeper.withLock { $0 }?.finish("\(busid) is gone")
        output.shutdown()
    }
}
