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

    init(reading reader: inout ByteReader) {
        let b = reader.readSlice(8)
        let s = b.startIndex
        bmRequestType = b[s]
        bRequest = b[s + 1]
        wValue = UInt16(b[s + 2]) | UInt16(b[s + 3]) << 8
        wIndex = UInt16(b[s + 4]) | UInt16(b[s + 5]) << 8
        wLength = UInt16(b[s + 6]) | UInt16(b[s + 7]) << 8
    }

    func encode(into buffer: inout [UInt8]) {
        buffer.append(bmRequestType)
        buffer.append(bRequest)
        for field in [wValue, wIndex, wLength] {
            buffer.append(UInt8(truncatingIfNeeded: field))
            buffer.append(UInt8(truncatingIfNeeded: field >> 8))
        }
    }
}
