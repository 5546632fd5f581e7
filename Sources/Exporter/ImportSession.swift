import Log
import Synchronization
import USBHost
import USBIP

/// The URB phase of one import: CMD_SUBMIT becomes a libusb transfer, its completion a
/// RET_SUBMIT; CMD_UNLINK cancels. Replies go out in completion order through `send`,
/// which must not block (completions run on the USB thread).
///
/// Semantics follow the kernel's usbip-host (drivers/usb/usbip/stub_rx.c, stub_tx.c):
/// an unlinked URB is answered by RET_UNLINK alone (status -ECONNRESET, or the URB's own
/// status if it finished first); an unlink for a URB no longer in flight gets RET_UNLINK
/// with status 0; CLEAR_FEATURE(HALT), SET_INTERFACE, SET_CONFIGURATION and a port reset
/// are carried out through the host stack and answered directly, never sent twice.
final class ImportSession: @unchecked Sendable {
    let handle: USBDeviceHandle
    let devid: UInt32
    private let send: @Sendable (USBIPMessage) -> Void
    private let deviceGone: @Sendable () -> Void
    private let logger: Logger
    private let inFlight = Mutex<[UInt32: InFlight]>([:])

    /// A client that keeps more URBs than this in flight is broken or hostile.
    static let maxInFlight = 4096

    private struct InFlight {
        var transfer: USBTransfer?
        var unlinkSeqnum: UInt32?
    }

    enum ProtocolError: Error, CustomStringConvertible {
        case wrongDevice(UInt32, expected: UInt32)
        case tooManyInFlight
        case duplicateSeqnum(UInt32)
        case unexpected(MessageKind)

        var description: String {
            switch self {
            case .wrongDevice(let got, let expected):
                "URB for devid 0x\(String(got, radix: 16)), but 0x\(String(expected, radix: 16)) is imported"
            case .tooManyInFlight: "more than \(ImportSession.maxInFlight) URBs in flight"
            case .duplicateSeqnum(let s): "seqnum \(s) is already in flight"
            case .unexpected(let kind): "\(kind) after the import"
            }
        }
    }

    private let counters: ExportCounters

    init(
        handle: USBDeviceHandle, devid: UInt32, logger: Logger, counters: ExportCounters = ExportCounters(),
        send: @escaping @Sendable (USBIPMessage) -> Void, deviceGone: @escaping @Sendable () -> Void
    ) {
        self.counters = counters
        self.handle = handle
        self.devid = devid
        self.logger = logger
        self.send = send
        self.deviceGone = deviceGone
    }

    /// Handles one message of the URB phase; a protocol error ends the connection.
    func handle(_ message: USBIPMessage) throws(ProtocolError) {
        switch message {
        case .submit(let command): try submit(command)
        case .unlink(let command): unlink(command)
        default: throw .unexpected(message.kind)
        }
    }

    private func submit(_ command: SubmitCommand) throws(ProtocolError) {
        guard command.devid == devid else { throw .wrongDevice(command.devid, expected: devid) }
        let endpoint = UInt8(command.ep) | (command.direction == .in ? 0x80 : 0)

        if command.ep == 0, let status = specialRequest(command.setup) {
            send(
                .submitReply(
                    SubmitReply(
                        seqnum: command.seqnum, status: status, actualLength: 0,
                        numberOfPackets: command.numberOfPackets)))
            return
        }
        guard let type = handle.transferType(endpoint: endpoint) else {
            reply(command, status: URBStatus.noEntry)
            return
        }
        var outData = command.transferBuffer
        var length = Int(command.transferBufferLength)
        if type == .control {
            // libusb takes the setup packet in front of the data stage and sizes the
            // buffer from wLength, which must not exceed the URB's buffer.
            guard Int(command.setup.wLength) <= length else {
                reply(command, status: URBStatus.invalid)
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

        let registered = inFlight.withLock { table -> ProtocolError? in
            guard table.count < Self.maxInFlight else { return .tooManyInFlight }
            guard table[command.seqnum] == nil else { return .duplicateSeqnum(command.seqnum) }
            table[command.seqnum] = InFlight()
            return nil
        }
        if let registered { throw registered }

        do throws(USBError) {
            let transfer = try USBTransfer(
                handle: handle, type: type,
                endpoint: type == .control ? (command.direction == .in ? 0x80 : 0) : endpoint,
                outData: outData, length: length,
                isoPacketLengths: command.isoPacketDescriptors.map { Int($0.length) }, flags: flags
            ) { [weak self] result in
                self?.complete(command, result)
            }
            let cancelNow = inFlight.withLock { table -> Bool in
                guard table[command.seqnum] != nil else { return false }  // already completed
                table[command.seqnum]!.transfer = transfer
                return table[command.seqnum]!.unlinkSeqnum != nil
            }
            if cancelNow { transfer.cancel() }
        } catch {
            _ = inFlight.withLock { $0.removeValue(forKey: command.seqnum) }
            logger.debug("seqnum \(command.seqnum): \(error)")
            reply(command, status: URBStatus.of(error))
            if error.isNoDevice { deviceGone() }
        }
    }

    private func unlink(_ command: UnlinkCommand) {
        let transfer = inFlight.withLock { table -> USBTransfer?? in
            guard table[command.unlinkSeqnum] != nil else { return .none }
            table[command.unlinkSeqnum]!.unlinkSeqnum = command.seqnum
            return .some(table[command.unlinkSeqnum]!.transfer)
        }
        switch transfer {
        case .none:
            // Already answered: nothing to cancel.
            send(.unlinkReply(UnlinkReply(seqnum: command.seqnum, status: 0)))
        case .some(let transfer?):
            transfer.cancel()
        case .some(nil):
            break  // still being submitted: cancelled as soon as it is (see submit)
        }
    }

    /// Runs on the USB thread.
    private func complete(_ command: SubmitCommand, _ result: USBTransferResult) {
        let entry = inFlight.withLock { $0.removeValue(forKey: command.seqnum) }
        if let unlinkSeqnum = entry?.unlinkSeqnum {
            send(.unlinkReply(UnlinkReply(seqnum: unlinkSeqnum, status: URBStatus.of(result.status))))
            return
        }
        var reply = SubmitReply(
            seqnum: command.seqnum, status: URBStatus.of(result.status), actualLength: UInt32(result.actualLength),
            numberOfPackets: command.numberOfPackets)
        if command.isISO {
            // Packets sit back to back in libusb's buffer; USB/IP sends only the bytes each
            // packet carried, with the request's offsets and lengths in the descriptors.
            var data: [UInt8] = []
            var descriptors: [ISOPacketDescriptor] = []
            var libusbOffset = 0
            var errors: Int32 = 0
            for (i, requested) in command.isoPacketDescriptors.enumerated() {
                let packet =
                    i < result.isoPackets.count
                    ? result.isoPackets[i] : USBISOPacketResult(actualLength: 0, status: .error)
                if command.direction == .in, libusbOffset + packet.actualLength <= result.data.count {
                    data += result.data[libusbOffset..<(libusbOffset + packet.actualLength)]
                }
                libusbOffset += Int(requested.length)
                if packet.status != .completed { errors += 1 }
                descriptors.append(
                    ISOPacketDescriptor(
                        offset: requested.offset, length: requested.length,
                        actualLength: UInt32(packet.actualLength), status: URBStatus.of(packet.status)))
            }
            reply.errorCount = errors
            reply.actualLength = UInt32(descriptors.reduce(0) { $0 + Int($1.actualLength) })
            reply.transferBuffer = command.direction == .in ? data[...] : []
            reply.isoPacketDescriptors = ISOPacketDescriptors(descriptors)
        } else if command.direction == .in {
            reply.transferBuffer = result.data[...]
            reply.actualLength = UInt32(result.data.count)
            let requested = command.ep == 0 ? Int(command.setup.wLength) : Int(command.transferBufferLength)
            if command.transferFlags & 0x0001 != 0, result.status == .completed, result.data.count < requested {
                reply.status = URBStatus.remoteIO  // URB_SHORT_NOT_OK
            }
        }
        counters.count(reply, direction: command.direction)
        send(.submitReply(reply))
        if result.status == .noDevice { deviceGone() }
    }

    private func reply(_ command: SubmitCommand, status: Int32) {
        send(
            .submitReply(
                SubmitReply(
                    seqnum: command.seqnum, status: status, actualLength: 0,
                    numberOfPackets: command.numberOfPackets)))
    }

    /// The requests usbip-host carries out itself; nil for any other request.
    private func specialRequest(_ setup: SetupPacket) -> Int32? {
        let result: Result<Void, USBError>
        switch (setup.bmRequestType, setup.bRequest) {
        case (0x02, 0x01) where setup.wValue == 0 && setup.wIndex & 0x0F != 0:
            // CLEAR_FEATURE(ENDPOINT_HALT) of a data endpoint (resets its toggle on this side
            // too); for endpoint 0 the request simply goes to the device.
            result = Result { () throws(USBError) in
                try handle.clearHalt(endpoint: UInt8(truncatingIfNeeded: setup.wIndex))
            }
        case (0x01, 0x0B):  // SET_INTERFACE
            result = Result { () throws(USBError) in
                try handle.setInterface(Int32(setup.wIndex), alternateSetting: Int32(setup.wValue))
            }
        case (0x00, 0x09):  // SET_CONFIGURATION
            result = Result { () throws(USBError) in try handle.setConfiguration(Int32(setup.wValue)) }
        case (0x23, 0x03) where setup.wValue == 4:  // SET_FEATURE(PORT_RESET) to the hub port
            result = Result { () throws(USBError) in try handle.reset() }
        case (0x00, 0x05):  // SET_ADDRESS: the host stack on this side owns the address
            return URBStatus.ok
        default:
            return nil
        }
        switch result {
        case .success: return URBStatus.ok
        case .failure(let error):
            logger.warning("\(handle.info.busid): \(error)")
            if error.isNoDevice { deviceGone() }
            return URBStatus.of(error)
        }
    }

    /// Cancels everything in flight and waits (bounded) for the completions, so the
    /// device can be released with nothing pending on it.
    func end() {
        let transfers = inFlight.withLock { $0.values.compactMap(\.transfer) }
        for transfer in transfers { transfer.cancel() }
        for _ in 0..<400 {  // up to 2 s
            if inFlight.withLock({ $0.isEmpty }) { return }
            usleepMilliseconds(5)
        }
        logger.warning("\(handle.info.busid): \(inFlight.withLock { $0.count }) URBs did not finish cancelling")
    }
}
