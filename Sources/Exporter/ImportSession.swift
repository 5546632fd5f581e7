import ByteBuffers
import Log
import OSThreads
import Synchronization
import USBHost
import USBIP

/// The URB phase of one import: CMD_SUBMIT becomes a transfer on the device, its
/// completion a RET_SUBMIT; CMD_UNLINK cancels. Replies go out in completion order
/// through `send`.
///
/// Semantics follow the kernel's usbip-host (drivers/usb/usbip/stub_rx.c, stub_tx.c):
/// an unlinked URB is answered by RET_UNLINK alone (status -ECONNRESET, or the URB's own
/// status if it finished first); an unlink for a URB no longer in flight gets RET_UNLINK
/// with status 0; CLEAR_FEATURE(HALT), SET_INTERFACE, SET_CONFIGURATION and a port reset
/// are carried out through the host stack and answered directly, never sent twice.
///
/// Ordering: a URB's RET_SUBMIT always leaves before any RET_UNLINK that refers to it, as
/// in usbip-host's stub_tx loop. The one ordering point is the in-flight table's lock:
/// a completion removes its entry and puts its reply in the outbox under it, and an unlink
/// that finds no entry puts its RET_UNLINK there under it. The outbox is handed to `send`
/// in that order, by one thread at a time, but outside the in-flight lock: a reader
/// submitting the next URB never waits while the USB thread writes a reply to the socket
/// (the guest's traces showed it did, for every URB, three futex calls each time).
/// `send` must not block (it runs on the USB thread) and must not call back.
public final class ImportSession: USBTransferCompletion, @unchecked Sendable {
    let device: any URBDevice
    let devid: UInt32
    private let send: @Sendable (OutboundMessage) -> Void
    private let deviceGone: @Sendable () -> Void
    private let logger: Logger
    private let counters: ExportCounters

    /// Guards `inFlight` and `inFlightBytes`; signalled when it empties (for `end`).
    private let state = Monitor()
    private var inFlight: [UInt32: InFlight] = [:]
    /// Transfer buffer bytes in flight, against `maxInFlightBytes`.
    private var inFlightBytes = 0
    /// Replies decided (under `state`, in the order they must leave) and not yet sent.
    private var outbox: [OutboundMessage] = []
    /// Held by the one thread handing the outbox to `send`; holds the batch it sends (an
    /// array whose storage goes back and forth with `outbox`, so neither allocates).
    private let sender = Mutex<[OutboundMessage]>([])
    /// The newest CMD_SUBMIT's seqnum so far (under `state`).
    private var newestSubmitted: UInt32?
    /// CMD_UNLINKs that came before the CMD_SUBMIT they cancel, by that URB's seqnum
    /// (under `state`). vhci_hcd sends them in that order when a URB is unlinked while it
    /// still waits to be sent: its unlink goes on another queue, and each pass of its
    /// sender sends the URBs waiting, then the unlinks waiting (Linux 6.1,
    /// drivers/usb/usbip/vhci_hcd.c `vhci_urb_dequeue`, vhci_tx.c `vhci_tx_loop`).
    /// usbip-host answers such an unlink at once with status 0, as for a URB already
    /// answered; the URB's RET_SUBMIT that follows is then one vhci_hcd cannot place
    /// ("cannot find a urb of seqnum"), and it drops the device. Here the URB, when it
    /// comes, is not submitted and the unlink is answered -ECONNRESET.
    private var earlyUnlinks: [UInt32: UInt32] = [:]
    /// A client whose unlinks of URBs still to come pile up past this is broken: the
    /// oldest is answered as for a URB already answered.
    static let maxEarlyUnlinks = 64
    /// This import's share of the host's usbfs memory (nil: unbounded). usbfs bounds all
    /// of the host's transfer buffers together, so without a share one importer with two
    /// 8 MiB URBs in flight would make every other import fail.
    let maxInFlightBytes: Int?
    private let noisy = LogRateLimit(clock: monotonicSeconds)

    /// A client that keeps more URBs than this in flight is broken or hostile.
    static let maxInFlight = 4096
    /// How long `end` waits for cancelled transfers to complete before it gives up.
    static let cancelDeadlineSeconds = 2.0

    private struct InFlight {
        /// Its transfer buffer, counted against `maxInFlightBytes`.
        var bytes: Int
        /// What the reply needs of the command (none of the decoder's buffer).
        var command: SubmitCommand
        /// Nil while it is being submitted.
        var transfer: (any SubmittedURB)?
        /// The seqnum of the CMD_UNLINK that asked for it to be cancelled.
        var unlinkSeqnum: UInt32?
    }

    public enum ProtocolError: Error, CustomStringConvertible {
        case wrongDevice(UInt32, expected: UInt32)
        case tooManyInFlight
        case duplicateSeqnum(UInt32)
        case unexpected(MessageKind)

        public var description: String {
            switch self {
            case .wrongDevice(let got, let expected):
                "URB for devid 0x\(String(got, radix: 16)), but 0x\(String(expected, radix: 16)) is imported"
            case .tooManyInFlight: "more than \(ImportSession.maxInFlight) URBs in flight"
            case .duplicateSeqnum(let s): "seqnum \(s) is already in flight"
            case .unexpected(let kind): "\(kind) after the import"
            }
        }
    }

    public init(
        device: any URBDevice, devid: UInt32, logger: Logger, counters: ExportCounters = ExportCounters(),
        maxInFlightBytes: Int? = nil, send: @escaping @Sendable (OutboundMessage) -> Void,
        deviceGone: @escaping @Sendable () -> Void
    ) {
        self.device = device
        self.maxInFlightBytes = maxInFlightBytes
        self.devid = devid
        self.logger = logger
        self.counters = counters
        self.send = send
        self.deviceGone = deviceGone
    }

    /// Handles one message of the URB phase; a protocol error ends the connection.
    public func handle(_ message: USBIPMessage) throws(ProtocolError) {
        switch message {
        case .submit(let command): try submit(command, data: nil)
        case .unlink(let command): unlink(command)
        default: throw .unexpected(message.kind)
        }
    }

    /// URBs in flight now.
    var inFlightCount: Int { state.withLock { inFlight.count } }

    /// An OUT CMD_SUBMIT whose data its reader put straight into `data`, a buffer of
    /// `outBuffer` (its first transfer_buffer_length bytes).
    public func handle(_ command: SubmitCommand, data: FixedBytes) throws(ProtocolError) {
        try submit(command, data: data)
    }

    /// A buffer for an OUT URB's data (`handle(_:data:)`), when the device takes one for
    /// that endpoint.
    public func outBuffer(for command: SubmitCommand) -> FixedBytes? {
        guard command.direction == .out, command.ep != 0 else { return nil }
        return device.outBuffer(Int(command.transferBufferLength), endpoint: UInt8(command.ep))
    }

    private func submit(_ command: SubmitCommand, data block: FixedBytes?) throws(ProtocolError) {
        guard command.devid == devid else { throw .wrongDevice(command.devid, expected: devid) }
        let unlinkedEarly = state.withLock { () -> Bool in
            if newestSubmitted.map({ Self.isNewer(command.seqnum, than: $0) }) ?? true {
                newestSubmitted = command.seqnum
            }
            guard let unlinkSeqnum = earlyUnlinks.removeValue(forKey: command.seqnum) else { return false }
            outbox.append(
                OutboundMessage(.unlinkReply(UnlinkReply(seqnum: unlinkSeqnum, status: URBStatus.connectionReset))))
            return true
        }
        if unlinkedEarly {
            sendOutbox()
            return
        }
        let endpoint = UInt8(command.ep) | (command.direction == .in ? 0x80 : 0)

        if command.ep == 0, let status = specialRequest(command.setup) {
            sendNow(Self.errorReply(to: command, status: status))
            return
        }
        guard let type = device.transferType(endpoint: endpoint) else {
            sendNow(Self.errorReply(to: command, status: URBStatus.noEntry))
            return
        }
        var outData = command.transferBuffer
        var outBlock = block
        var length = Int(command.transferBufferLength)
        if let block, type != .bulk {
            // The endpoint's type changed since the buffer was lent (an alternate setting).
            outData = block.slice(0..<min(length, block.count)).copied()[...]
            outBlock = nil
        }
        if type == .control {
            // libusb takes the setup packet in front of the data stage and sizes the
            // buffer from wLength, which must not exceed the URB's buffer.
            guard Int(command.setup.wLength) <= length else {
                sendNow(Self.errorReply(to: command, status: URBStatus.invalid))
                return
            }
            length = Int(command.setup.wLength)
            outData = ArraySlice(
                command.setup.bytes
                    + (command.setup.bmRequestType & 0x80 == 0 ? Array(command.transferBuffer.prefix(length)) : []))
        }
        // URB_SHORT_NOT_OK is applied in `complete` (libusb would report a short read as a
        // generic error; the kernel reports -EREMOTEIO, which drivers check for).
        var flags: USBTransferFlags = []
        if command.transferFlags & 0x0040 != 0 { flags.insert(.zeroPacket) }  // URB_ZERO_PACKET

        let bytes = type == .control ? 8 + length : length
        // What the completion keeps of the command must not hold the decoder's buffer.
        let kept = command.withoutDecoderStorage
        let admission = state.withLock { () -> Result<Bool, ProtocolError> in
            guard inFlight.count < Self.maxInFlight else { return .failure(.tooManyInFlight) }
            guard inFlight[command.seqnum] == nil else { return .failure(.duplicateSeqnum(command.seqnum)) }
            if let share = maxInFlightBytes, inFlightBytes + bytes > share {
                // What usbfs itself would answer once the host's budget is spent, but for
                // this import alone: answered in order with the completions.
                outbox.append(OutboundMessage(.submitReply(Self.errorReply(to: command, status: URBStatus.noMemory))))
                return .success(false)
            }
            inFlight[command.seqnum] = InFlight(bytes: bytes, command: kept)
            inFlightBytes += bytes
            return .success(true)
        }
        switch admission {
        case .failure(let refusal): throw refusal
        case .success(false):
            sendOutbox()
            noisy.log(
                logger, .info, kind: "over-share",
                "\(device.busid): seqnum \(command.seqnum): \(bytes) bytes would pass this import's share of "
                    + "\(maxInFlightBytes ?? 0) bytes in flight; answered -ENOMEM")
            return
        case .success(true): break
        }

        let request = URBRequest(
            type: type, endpoint: type == .control ? (command.direction == .in ? 0x80 : 0) : endpoint,
            outData: outData, outBlock: outBlock, length: length,
            isoPacketLengths: command.isoPacketDescriptors.map { Int($0.length) }, flags: flags)
        do throws(USBError) {
            let transfer = try device.submit(request, tag: command.seqnum, completion: self)
            let cancelNow = state.withLock { () -> Bool in
                guard inFlight[command.seqnum] != nil else { return false }  // already completed
                inFlight[command.seqnum]!.transfer = transfer
                return inFlight[command.seqnum]!.unlinkSeqnum != nil
            }
            if cancelNow { transfer.cancel() }
        } catch {
            logger.debug("seqnum \(command.seqnum): \(error)")
            let status = URBStatus.of(error)
            finish(command.seqnum, status: status) {
                OutboundMessage(.submitReply(Self.errorReply(to: $0, status: status)))
            }
            if error.isNoDevice { deviceGone() }
        }
    }

    private func unlink(_ command: UnlinkCommand) {
        let (transfer, answered) = state.withLock { () -> ((any SubmittedURB)?, Bool) in
            let target = command.unlinkSeqnum
            if inFlight[target] == nil, earlyUnlinks[target] == nil,
                newestSubmitted.map({ Self.isNewer(target, than: $0) }) ?? true
            {
                // Its URB is still to come (see `earlyUnlinks`).
                var answered = false
                if earlyUnlinks.count >= Self.maxEarlyUnlinks,
                    let oldest = earlyUnlinks.keys.min(by: { Self.isNewer($1, than: $0) })
                {
                    let unlinkSeqnum = earlyUnlinks.removeValue(forKey: oldest)!
                    outbox.append(
                        OutboundMessage(.unlinkReply(UnlinkReply(seqnum: unlinkSeqnum, status: URBStatus.ok))))
                    answered = true
                }
                earlyUnlinks[target] = command.seqnum
                return (nil, answered)
            }
            guard inFlight[target] != nil, inFlight[target]!.unlinkSeqnum == nil else {
                // Already answered (its RET_SUBMIT is queued ahead of this), or already
                // being unlinked by an earlier CMD_UNLINK: nothing more to cancel.
                outbox.append(OutboundMessage(.unlinkReply(UnlinkReply(seqnum: command.seqnum, status: URBStatus.ok))))
                return (nil, true)
            }
            inFlight[command.unlinkSeqnum]!.unlinkSeqnum = command.seqnum
            // Still being submitted: `submit` cancels it as soon as it has the transfer.
            return (inFlight[command.unlinkSeqnum]!.transfer, false)
        }
        if answered { sendOutbox() }
        transfer?.cancel()
    }

    /// Whether seqnum `a` came after `b`: seqnums count up by one per command and wrap.
    static func isNewer(_ a: UInt32, than b: UInt32) -> Bool { Int32(bitPattern: a &- b) > 0 }

    /// A transfer ended (its tag is its URB's seqnum). Runs on the USB thread.
    public func transferCompleted(_ seqnum: UInt32, _ result: USBTransferResult) {
        finish(seqnum, status: URBStatus.of(result.status)) { command in
            let (reply, data) = Self.reply(to: command, result)
            counters.count(reply, direction: command.direction)
            return data.map { OutboundMessage(reply, data: $0) } ?? OutboundMessage(.submitReply(reply))
        }
        if result.status == .noDevice { deviceGone() }
    }

    /// Takes a URB out of the table and queues its answer under the lock: the RET_SUBMIT
    /// `reply` makes from the command kept in the table, or the RET_UNLINK (with the URB's
    /// `status`) if it was unlinked; then sends it.
    private func finish(_ seqnum: UInt32, status: Int32, reply: (SubmitCommand) -> OutboundMessage) {
        let answered = state.withLock { () -> Bool in
            guard let entry = inFlight.removeValue(forKey: seqnum) else { return false }
            inFlightBytes -= entry.bytes
            // Made (and counted) even when unlinked, as a completion always was.
            let submitReply = reply(entry.command)
            if let unlinkSeqnum = entry.unlinkSeqnum {
                outbox.append(OutboundMessage(.unlinkReply(UnlinkReply(seqnum: unlinkSeqnum, status: status))))
            } else {
                outbox.append(submitReply)
            }
            if inFlight.isEmpty { state.broadcast() }
            return true
        }
        if answered { sendOutbox() }
    }

    /// A reply that needs no URB in flight, queued in order with the completions.
    private func sendNow(_ reply: SubmitReply) {
        state.withLock { outbox.append(OutboundMessage(.submitReply(reply))) }
        sendOutbox()
    }

    /// Hands the outbox to `send` in order. Called by whoever just put something in it;
    /// a thread that finds another one sending waits for it, then sends what is left (the
    /// other may already have sent its reply too: it empties the outbox before it stops).
    private func sendOutbox() {
        sender.withLock { batch in
            while true {
                state.withLock { swap(&outbox, &batch) }
                if batch.isEmpty { return }
                for message in batch { send(message) }
                batch.removeAll(keepingCapacity: true)
            }
        }
    }

    /// The RET_SUBMIT of a completed transfer; a non-iso IN reply's data beside it, still
    /// in the transfer's buffer (the reply's own transfer buffer left empty).
    static func reply(to command: SubmitCommand, _ result: USBTransferResult) -> (SubmitReply, FixedBytes.Slice?) {
        var reply = SubmitReply(
            seqnum: command.seqnum, status: URBStatus.of(result.status), actualLength: UInt32(result.actualLength),
            numberOfPackets: command.numberOfPackets)
        if command.isISO {
            // Packets sit back to back in libusb's buffer; USB/IP sends only the bytes each
            // packet carried, with the request's offsets and lengths in the descriptors.
            var data: [UInt8] = []
            var descriptors: [ISOPacketDescriptor] = []
            descriptors.reserveCapacity(command.isoPacketDescriptors.count)
            var libusbOffset = 0
            var errors: Int32 = 0
            for (i, requested) in command.isoPacketDescriptors.enumerated() {
                let packet =
                    i < result.isoPackets.count
                    ? result.isoPackets[i] : USBISOPacketResult(actualLength: 0, status: .error)
                // A device never reports more than a packet's length; clamp what a broken
                // one says so the reply stays well-formed.
                let actual = min(max(packet.actualLength, 0), Int(requested.length))
                if command.direction == .in, libusbOffset + actual <= result.data.count {
                    let start = result.data.startIndex + libusbOffset
                    result.data[start..<(start + actual)].withUnsafeBytes { data.append(contentsOf: $0) }
                }
                libusbOffset += Int(requested.length)
                if packet.status != .completed { errors += 1 }
                descriptors.append(
                    ISOPacketDescriptor(
                        offset: requested.offset, length: requested.length,
                        actualLength: UInt32(actual), status: URBStatus.of(packet.status)))
            }
            reply.errorCount = errors
            reply.actualLength = UInt32(descriptors.reduce(0) { $0 + Int($1.actualLength) })
            reply.transferBuffer = command.direction == .in ? data[...] : []
            reply.isoPacketDescriptors = ISOPacketDescriptors(descriptors)
        } else if command.direction == .in {
            reply.actualLength = UInt32(result.data.count)
            let requested = command.ep == 0 ? Int(command.setup.wLength) : Int(command.transferBufferLength)
            if command.transferFlags & 0x0001 != 0, result.status == .completed, result.data.count < requested {
                reply.status = URBStatus.remoteIO  // URB_SHORT_NOT_OK
            }
            return (reply, result.data)
        }
        return (reply, nil)
    }

    /// A RET_SUBMIT for a URB that moved no data: well-formed for every transfer type.
    /// An iso request gets its descriptors back, each with no data and `status`, because
    /// the importer reads exactly as many descriptors as it sent (vhci_rx.c) and drops the
    /// device when the count differs.
    static func errorReply(to command: SubmitCommand, status: Int32) -> SubmitReply {
        var reply = SubmitReply(
            seqnum: command.seqnum, status: status, actualLength: 0, numberOfPackets: command.numberOfPackets)
        if command.isISO {
            reply.errorCount = status == URBStatus.ok ? 0 : Int32(clamping: command.isoPacketDescriptors.count)
            reply.isoPacketDescriptors = ISOPacketDescriptors(
                command.isoPacketDescriptors.map {
                    ISOPacketDescriptor(offset: $0.offset, length: $0.length, actualLength: 0, status: status)
                })
        }
        return reply
    }

    /// The requests usbip-host carries out itself; nil for any other request.
    private func specialRequest(_ setup: SetupPacket) -> Int32? {
        let result: Result<Void, USBError>
        switch (setup.bmRequestType, setup.bRequest) {
        case (0x02, 0x01) where setup.wValue == 0 && setup.wIndex & 0x0F != 0:
            // CLEAR_FEATURE(ENDPOINT_HALT) of a data endpoint (resets its toggle on this side
            // too); for endpoint 0 the request simply goes to the device.
            result = Result { () throws(USBError) in
                try device.clearHalt(endpoint: UInt8(truncatingIfNeeded: setup.wIndex))
            }
        case (0x01, 0x0B):  // SET_INTERFACE
            result = Result { () throws(USBError) in
                try device.setInterface(Int32(setup.wIndex), alternateSetting: Int32(setup.wValue))
            }
        case (0x00, 0x09):  // SET_CONFIGURATION
            result = Result { () throws(USBError) in try device.setConfiguration(Int32(setup.wValue)) }
        case (0x23, 0x03) where setup.wValue == 4:  // SET_FEATURE(PORT_RESET) to the hub port
            result = Result { () throws(USBError) in try device.reset() }
        case (0x00, 0x05):  // SET_ADDRESS: the host stack on this side owns the address
            return URBStatus.ok
        default:
            return nil
        }
        switch result {
        case .success: return URBStatus.ok
        case .failure(let error):
            logger.warning("\(device.busid): \(error)")
            if error.isNoDevice { deviceGone() }
            return URBStatus.of(error)
        }
    }

    /// Cancels everything in flight and waits (bounded) for the completions, so the
    /// device can be released with nothing pending on it.
    public func end() {
        let transfers = state.withLock { inFlight.values.compactMap(\.transfer) }
        for transfer in transfers { transfer.cancel() }
        let deadline = monotonicSeconds() + Self.cancelDeadlineSeconds
        let left = state.withLock { () -> Int in
            state.wait(until: deadline) { inFlight.isEmpty }
            return inFlight.count
        }
        if left > 0 { logger.warning("\(device.busid): \(left) URBs did not finish cancelling") }
    }
}
