import ByteBuffers
import CLibUSB
import Synchronization

/// What a transfer moves: the endpoint type of the URB.
public enum USBTransferType: Sendable, Equatable {
    case control, bulk, interrupt, isochronous
}

/// How a transfer ended, as libusb reports it.
public enum USBTransferStatus: Sendable, Equatable {
    case completed, error, timedOut, cancelled, stall, noDevice, overflow
}

/// URB flags that change what libusb does with a transfer.
public struct USBTransferFlags: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// A short IN transfer is an error (the kernel's URB_SHORT_NOT_OK).
    public static let shortNotOK = USBTransferFlags(rawValue: UInt8(LIBUSB_TRANSFER_SHORT_NOT_OK.rawValue))
    /// End an OUT transfer that is a multiple of the packet size with a zero-length packet
    /// (URB_ZERO_PACKET).
    public static let zeroPacket = USBTransferFlags(rawValue: UInt8(LIBUSB_TRANSFER_ADD_ZERO_PACKET.rawValue))
}

/// The result of one isochronous packet.
public struct USBISOPacketResult: Sendable, Equatable {
    public let actualLength: Int
    public let status: USBTransferStatus

    public init(actualLength: Int, status: USBTransferStatus) {
        self.actualLength = actualLength
        self.status = status
    }
}

/// A finished transfer. For IN transfers `data` holds what was read, where it lies in
/// the transfer's buffer: for control, the data stage (after the setup packet); for
/// isochronous, the whole buffer, each packet at its offset (packets laid out back to
/// back by their lengths). Empty for OUT transfers.
public struct USBTransferResult: Sendable {
    public let status: USBTransferStatus
    public let actualLength: Int
    public let data: FixedBytes.Slice
    public let isoPackets: [USBISOPacketResult]

    public init(
        status: USBTransferStatus, actualLength: Int, data: FixedBytes.Slice, isoPackets: [USBISOPacketResult] = []
    ) {
        self.status = status
        self.actualLength = actualLength
        self.data = data
        self.isoPackets = isoPackets
    }

    /// A result whose data is a copy of `data` (for fake devices).
    public init(status: USBTransferStatus, actualLength: Int, data: [UInt8], isoPackets: [USBISOPacketResult] = []) {
        let block = FixedBytes(copying: data)
        self.init(
            status: status, actualLength: actualLength, data: block.slice(0..<block.count), isoPackets: isoPackets)
    }
}

/// Who hears of a transfer's end: one object for all of its transfers, told which by the
/// tag it gave (a closure per transfer would be an allocation per URB).
public protocol USBTransferCompletion: AnyObject, Sendable {
    /// Runs once per transfer, on the USB event thread: it must not block.
    func transferCompleted(_ tag: UInt32, _ result: USBTransferResult)
}

/// One asynchronous libusb transfer. It lives until libusb has completed it (libusb's
/// user_data holds a reference) and until its submitter lets go of it, so cancelling a
/// transfer that already completed is harmless.
public final class USBTransfer: @unchecked Sendable {
    private let transfer: UnsafeMutablePointer<libusb_transfer>
    /// The transfer's buffer; its result's data is a slice of it, which outlives the
    /// transfer as long as the reply that carries it needs.
    private let block: FixedBytes
    private let type: USBTransferType
    private let isIn: Bool
    /// Weak: a transfer that ends after its submitter has gone reports to no one.
    private weak var completion: (any USBTransferCompletion)?
    private let tag: UInt32

    /// Submits a transfer on `handle`.
    /// - `endpoint`: the endpoint address (bit 7 set for IN); 0 for control.
    /// - `outData`: for OUT transfers, the bytes to send; for control transfers, the
    ///   8-byte setup packet followed by the OUT data stage, if any.
    /// - `outBlock`: instead of `outData`, a bulk OUT transfer's data already in a buffer
    ///   of `USBDeviceHandle.outTransferBuffer` (its first `length` bytes): submitted
    ///   where it lies.
    /// - `length`: the buffer size (for control: the data stage's wLength).
    /// - `isoPacketLengths`: the length of each isochronous packet.
    /// - `tag`, `completion`: told the result, on the USB event thread.
    public init(
        handle: USBDeviceHandle, type: USBTransferType, endpoint: UInt8, outData: ArraySlice<UInt8>,
        outBlock: FixedBytes? = nil, length: Int, isoPacketLengths: [Int] = [], flags: USBTransferFlags = [],
        tag: UInt32,
        completion: any USBTransferCompletion
    ) throws(USBError) {
        self.type = type
        self.isIn = endpoint & 0x80 != 0
        self.completion = completion
        self.tag = tag
        let total = type == .control ? 8 + length : length
        if let outBlock, type == .bulk, !isIn, outBlock.count >= total {
            block = outBlock
        } else {
            let mapped =
                type == .bulk && total >= DeviceMemory.smallest && (!isIn || DeviceMemory.inTransfersReadCached)
                ? handle.memory.lend(total) : nil
            block = mapped ?? FixedBytes(uninitializedCount: max(total, 1))
        }
        let buffer = UnsafeMutableRawBufferPointer(block.unsafeStorage)
        var outCount = outData.count
        if let outBlock, outBlock !== block {
            // Not a bulk OUT transfer after all: its data is copied as if it came as bytes.
            outCount = min(length, total, outBlock.count)
            outBlock.slice(0..<outCount).withUnsafeBytes { buffer.copyMemory(from: $0) }
        } else if outBlock == nil, !outData.isEmpty {
            precondition(outData.count <= total, "more OUT data than the buffer holds")
            UnsafeMutableRawBufferPointer(rebasing: buffer[0..<outData.count]).copyBytes(from: outData)
        }
        // Only an isochronous buffer is zeroed past the OUT data: all of it is read back,
        // packets the device left short included. Bulk, interrupt and control reads take
        // back only the `actual_length` bytes the kernel wrote, so zeroing a 64 KiB IN
        // buffer first would be a pass over it for nothing.
        if type == .isochronous {
            UnsafeMutableRawBufferPointer(rebasing: buffer[outCount...])
                .initializeMemory(as: UInt8.self, repeating: 0)
        }
        guard let allocated = libusb_alloc_transfer(Int32(isoPacketLengths.count)) else {
            throw USBError("libusb_alloc_transfer", code: Int32(LIBUSB_ERROR_NO_MEM.rawValue))
        }
        transfer = allocated
        let bytes = block.unsafeStorage.baseAddress!
        let userData = Unmanaged.passRetained(self).toOpaque()
        switch type {
        case .control:
            libusb_fill_control_transfer(transfer, handle.handle, bytes, transferCallback, userData, 0)
        case .bulk:
            libusb_fill_bulk_transfer(
                transfer, handle.handle, endpoint, bytes, Int32(total), transferCallback, userData, 0)
        case .interrupt:
            libusb_fill_interrupt_transfer(
                transfer, handle.handle, endpoint, bytes, Int32(total), transferCallback, userData, 0)
        case .isochronous:
            libusb_fill_iso_transfer(
                transfer, handle.handle, endpoint, bytes, Int32(total), Int32(isoPacketLengths.count),
                transferCallback, userData, 0)
            for (i, length) in isoPacketLengths.enumerated() {
                usbp2p_iso_packet(transfer, Int32(i)).pointee.length = UInt32(length)
            }
        }
        transfer.pointee.flags = flags.rawValue
        let rc = libusb_submit_transfer(transfer)
        if rc < 0 {
            Unmanaged<USBTransfer>.fromOpaque(userData).release()
            throw USBError("submit transfer to endpoint 0x\(String(endpoint, radix: 16))", code: rc)
        }
    }

    /// Asks libusb to cancel; the completion then reports `.cancelled` (or the result,
    /// if the transfer finished first).
    public func cancel() { _ = libusb_cancel_transfer(transfer) }

    /// Runs on the event thread when libusb completes the transfer.
    fileprivate func complete() {
        let t = transfer.pointee
        let status = USBTransferStatus(t.status)
        var packets: [USBISOPacketResult] = []
        // The data stays in the block: the result carries a slice of it, no copy.
        var data = block.slice(0..<0)
        // The kernel never reports more than the buffer; clamped all the same, since only
        // bytes it wrote may be read back (the buffer is not zeroed).
        let setupBytes = type == .control ? 8 : 0
        var actual = min(max(Int(t.actual_length), 0), block.count - setupBytes)
        if type == .isochronous {
            actual = 0
            for i in 0..<t.num_iso_packets {
                let packet = usbp2p_iso_packet(transfer, i).pointee
                packets.append(
                    USBISOPacketResult(
                        actualLength: Int(packet.actual_length), status: USBTransferStatus(packet.status)))
                actual += Int(packet.actual_length)
            }
            if isIn { data = block.slice(0..<Int(t.length)) }
        } else if type == .control {
            if block.unsafeStorage[0] & 0x80 != 0 { data = block.slice(setupBytes..<(setupBytes + actual)) }
        } else if isIn {
            data = block.slice(0..<actual)
        }
        completion?.transferCompleted(
            tag, USBTransferResult(status: status, actualLength: actual, data: data, isoPackets: packets))
    }

    deinit { libusb_free_transfer(transfer) }
}

/// libusb's completion callback for every transfer: hands over to the Swift object and
/// drops the reference libusb held.
private func transferCallback(_ raw: UnsafeMutablePointer<libusb_transfer>?) {
    guard let raw, let userData = raw.pointee.user_data else { return }
    let transfer = Unmanaged<USBTransfer>.fromOpaque(userData).takeRetainedValue()
    transfer.complete()
}

extension USBTransferStatus {
    init(_ status: libusb_transfer_status) {
        switch status {
        case LIBUSB_TRANSFER_COMPLETED: self = .completed
        case LIBUSB_TRANSFER_TIMED_OUT: self = .timedOut
        case LIBUSB_TRANSFER_CANCELLED: self = .cancelled
        case LIBUSB_TRANSFER_STALL: self = .stall
        case LIBUSB_TRANSFER_NO_DEVICE: self = .noDevice
        case LIBUSB_TRANSFER_OVERFLOW: self = .overflow
        default: self = .error
        }
    }
}
