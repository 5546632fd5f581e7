// Constants of the USB/IP wire protocol.
// Source: Linux Documentation/usb/usbip_protocol.rst ("USB/IP protocol", v1.1.1) and
// tools/usb/usbip/libsrc/usbip_common.h (status codes); drivers/usb/usbip/usbip_common.h
// (command numbers). All multi-byte fields are big-endian on the wire.

/// The protocol version carried by every operation header: v1.1.1.
public let usbipVersion: UInt16 = 0x0111

/// The TCP port of the kernel's usbipd and of usbp2pd's plain USB/IP listener.
public let usbipDefaultPort: UInt16 = 3240

/// Which end of a USB/IP connection a decoder serves: a server reads what a client sends
/// (requests, CMD_*), a client reads what a server sends (replies, RET_*).
public enum USBIPSide: String, Sendable, CustomStringConvertible {
    case server, client
    public var description: String { rawValue }
}

/// Operation codes of the op phase (device list, import).
enum OpCode {
    static let requestDeviceList: UInt16 = 0x8005
    static let replyDeviceList: UInt16 = 0x0005
    static let requestImport: UInt16 = 0x8003
    static let replyImport: UInt16 = 0x0003
}

/// Command numbers of the URB phase.
enum Command {
    static let submit: UInt32 = 0x0000_0001
    static let unlink: UInt32 = 0x0000_0002
    static let submitReply: UInt32 = 0x0000_0003
    static let unlinkReply: UInt32 = 0x0000_0004
}

/// Sizes of the fixed parts of each message, in bytes.
enum WireSize {
    /// version, code, status.
    static let opHeader = 8
    /// OP_REP_DEVLIST's device count after the op header.
    static let deviceCount = 4
    /// path[256], busid[32], then 6 integers and 6 bytes: 0x138 bytes.
    static let exportedDevice = 312
    static let interface = 4
    static let path = 256
    static let busid = 32
    /// Every URB-phase header: usbip_header_basic (20) + the 28-byte union.
    static let urbHeader = 48
    static let isoPacketDescriptor = 16
}

/// `number_of_packets` for a URB that is not isochronous, per usbip_protocol.rst.
/// The kernel's vhci sends 0 there instead (urb->number_of_packets of a non-iso URB);
/// both mean "no iso descriptors follow".
public let usbipNonISOPacketCount: UInt32 = 0xFFFF_FFFF

/// The direction field of usbip_header_basic.
public enum USBIPDirection: UInt32, Sendable {
    case out = 0
    case `in` = 1
}

/// Status of an operation reply (ST_* in usbip_common.h of the kernel's usbip tools).
public struct OpStatus: RawRepresentable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let ok = OpStatus(rawValue: 0)
    /// Request not available.
    public static let notAvailable = OpStatus(rawValue: 1)
    /// Device busy (exported to someone else).
    public static let deviceBusy = OpStatus(rawValue: 2)
    /// Device in error state.
    public static let deviceError = OpStatus(rawValue: 3)
    /// Device not found.
    public static let noDevice = OpStatus(rawValue: 4)
    /// Unexpected response.
    public static let error = OpStatus(rawValue: 5)

    public var description: String {
        switch self {
        case .ok: "ok"
        case .notAvailable: "request not available"
        case .deviceBusy: "device busy"
        case .deviceError: "device in error state"
        case .noDevice: "device not found"
        case .error: "unexpected response"
        default: "status \(rawValue)"
        }
    }
}

/// The kinds of message, for errors and logs.
public enum MessageKind: String, Sendable, CustomStringConvertible {
    case requestDeviceList = "OP_REQ_DEVLIST"
    case replyDeviceList = "OP_REP_DEVLIST"
    case requestImport = "OP_REQ_IMPORT"
    case replyImport = "OP_REP_IMPORT"
    case submit = "USBIP_CMD_SUBMIT"
    case submitReply = "USBIP_RET_SUBMIT"
    case unlink = "USBIP_CMD_UNLINK"
    case unlinkReply = "USBIP_RET_UNLINK"
    public var description: String { rawValue }
}
