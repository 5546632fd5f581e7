/// The 8-byte SETUP packet of a control transfer, carried verbatim in CMD_SUBMIT
/// (USB 2.0 spec 9.3: its 16-bit fields are little-endian, unlike USB/IP's own fields).
public struct SetupPacket: Equatable, Hashable, Sendable {
    public var bmRequestType: UInt8
    public var bRequest: UInt8
    public var wValue: UInt16
    public var wIndex: UInt16
    public var wLength: UInt16

    public init(bmRequestType: UInt8, bRequest: UInt8, wValue: UInt16, wIndex: UInt16, wLength: UInt16) {
        self.bmRequestType = bmRequestType
        self.bRequest = bRequest
        self.wValue = wValue
        self.wIndex = wIndex
        self.wLength = wLength
    }

    /// All zero: what a non-control URB carries.
    public static let zero = SetupPacket(bmRequestType: 0, bRequest: 0, wValue: 0, wIndex: 0, wLength: 0)

    /// From the 8 wire bytes read as a little-endian integer.
    init(wire: UInt64) {
        bmRequestType = UInt8(truncatingIfNeeded: wire)
        bRequest = UInt8(truncatingIfNeeded: wire >> 8)
        wValue = UInt16(truncatingIfNeeded: wire >> 16)
        wIndex = UInt16(truncatingIfNeeded: wire >> 32)
        wLength = UInt16(truncatingIfNeeded: wire >> 48)
    }

    /// The 8 bytes as they travel on the wire and on the bus (what libusb expects in front
    /// of a control transfer's data stage).
    public var bytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: wire >> (8 * UInt64($0))) } }

    /// The 8 wire bytes as a little-endian integer.
    var wire: UInt64 {
        UInt64(bmRequestType) | UInt64(bRequest) << 8 | UInt64(wValue) << 16 | UInt64(wIndex) << 32 | UInt64(wLength)
            << 48
    }
}
