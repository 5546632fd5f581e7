/// Everything a peer can get wrong in a USB/IP byte stream. Each case carries the
/// offending value, so a log line says what arrived, not just that something did.
/// A decoder that throws one of these has seen bytes that no valid stream contains;
/// the connection that carried them must be closed (the stream cannot be resynchronised).
public enum USBIPError: Error, Equatable, Sendable {
    /// An operation header whose version is not 0x0111 (the kernel tools refuse these too).
    case unsupportedVersion(UInt16)
    /// An operation code that is not OP_REQ/OP_REP DEVLIST or IMPORT.
    case unknownOperation(UInt16)
    /// A URB-phase command other than CMD_SUBMIT, RET_SUBMIT, CMD_UNLINK, RET_UNLINK.
    case unknownCommand(UInt32)
    /// A valid message that the receiving side never accepts (a server sent a request, ...).
    case unexpectedMessage(MessageKind, receiver: USBIPSide)
    /// `direction` is neither USBIP_DIR_OUT (0) nor USBIP_DIR_IN (1).
    case invalidDirection(UInt32)
    /// `ep` is not an endpoint number 0...15.
    case invalidEndpoint(UInt32)
    /// A transfer length beyond the configured bound (or negative as a kernel `int`).
    case transferTooLarge(length: UInt32, limit: UInt32)
    /// `actual_length` larger than any buffer the request could have had.
    case actualLengthTooLarge(actualLength: UInt32, limit: UInt32)
    /// `number_of_packets` beyond the bound for isochronous URBs.
    case tooManyISOPackets(count: UInt32, limit: UInt32)
    /// An isochronous packet that reaches outside the transfer buffer.
    case isoPacketOutOfBounds(index: Int, offset: UInt32, length: UInt32, bufferLength: UInt32)
    /// An isochronous packet whose actual length exceeds its expected length.
    case isoPacketOverfilled(index: Int, actualLength: UInt32, length: UInt32)
    /// The isochronous packets' actual lengths do not add up to the reply's actual_length.
    case isoLengthMismatch(sum: UInt64, actualLength: UInt32)
    /// A device list longer than the configured bound.
    case tooManyDevices(count: UInt32, limit: UInt32)
    /// More interfaces than a USB configuration can have (32).
    case tooManyInterfaces(count: UInt8, limit: UInt8)
    /// A fixed-size string field with no terminating zero byte.
    case unterminatedString(field: StringField)
    /// A fixed-size string field that is not UTF-8.
    case invalidString(field: StringField)
    /// A speed outside the kernel's `enum usb_device_speed`.
    case invalidSpeed(UInt32)
    /// A RET_SUBMIT whose seqnum matches no request the caller has in flight.
    case unknownSeqnum(UInt32)

    /// The names of the fixed-size string fields, for error messages.
    public enum StringField: String, Sendable {
        case path, busid
    }
}

extension USBIPError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .unsupportedVersion(let v):
            return "unsupported USB/IP version 0x\(hex(v)) (expected 0x0111)"
        case .unknownOperation(let code):
            return "unknown USB/IP operation code 0x\(hex(code))"
        case .unknownCommand(let command):
            return "unknown USB/IP command 0x\(hex(command))"
        case .unexpectedMessage(let kind, let receiver):
            return "\(kind) is never sent to a USB/IP \(receiver)"
        case .invalidDirection(let d):
            return "invalid direction \(d) (expected 0 for OUT or 1 for IN)"
        case .invalidEndpoint(let ep):
            return "invalid endpoint number \(ep) (expected 0...15)"
        case .transferTooLarge(let length, let limit):
            return "transfer_buffer_length \(length) exceeds the limit of \(limit) bytes"
        case .actualLengthTooLarge(let actual, let limit):
            return "actual_length \(actual) exceeds the limit of \(limit) bytes"
        case .tooManyISOPackets(let count, let limit):
            return "number_of_packets \(count) exceeds the limit of \(limit)"
        case .isoPacketOutOfBounds(let i, let offset, let length, let bufferLength):
            return "iso packet \(i) (offset \(offset), length \(length)) lies outside the \(bufferLength)-byte buffer"
        case .isoPacketOverfilled(let i, let actual, let length):
            return "iso packet \(i) has actual_length \(actual) > length \(length)"
        case .isoLengthMismatch(let sum, let actual):
            return "iso packets carry \(sum) bytes but actual_length is \(actual)"
        case .tooManyDevices(let count, let limit):
            return "device list of \(count) devices exceeds the limit of \(limit)"
        case .tooManyInterfaces(let count, let limit):
            return "bNumInterfaces \(count) exceeds the USB maximum of \(limit)"
        case .unterminatedString(let field):
            return "\(field.rawValue) field has no terminating zero byte"
        case .invalidString(let field):
            return "\(field.rawValue) field is not valid UTF-8"
        case .invalidSpeed(let speed):
            return "invalid device speed \(speed)"
        case .unknownSeqnum(let seqnum):
            return "RET_SUBMIT for seqnum \(seqnum), which has no request in flight"
        }
    }
}

func hex<T: FixedWidthInteger>(_ value: T) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, T.bitWidth / 4 - digits.count)) + digits
}
