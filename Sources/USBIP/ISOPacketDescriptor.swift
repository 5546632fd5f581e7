// usbip_iso_packet_descriptor (drivers/usb/usbip/usbip_common.h), 16 bytes each,
// sent after the transfer buffer of an isochronous CMD_SUBMIT or RET_SUBMIT:
//
//  offset  size  field
//  0x0     4     offset        byte offset of the packet in the URB's transfer buffer
//  0x4     4     length        expected length of the packet
//  0x8     4     actual_length bytes transferred
//  0xC     4     status        per-packet status (0 or a negative errno)

/// One isochronous packet of a URB.
public struct ISOPacketDescriptor: Equatable, Hashable, Sendable {
    public var offset: UInt32
    public var length: UInt32
    public var actualLength: UInt32
    public var status: Int32

    public init(offset: UInt32, length: UInt32, actualLength: UInt32 = 0, status: Int32 = 0) {
        self.offset = offset
        self.length = length
        self.actualLength = actualLength
        self.status = status
    }
}

/// The iso packet descriptors of one URB, read in place from the received bytes
/// (no array is built when a message is decoded).
public struct ISOPacketDescriptors: RandomAccessCollection, Equatable, Sendable {
    /// The descriptors' wire bytes: `count * 16` big-endian bytes.
    public let wireBytes: ArraySlice<UInt8>

    /// No descriptors: a URB that is not isochronous.
    public init() { wireBytes = [] }

    public init(_ descriptors: [ISOPacketDescriptor]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(descriptors.count * WireSize.isoPacketDescriptor)
        for d in descriptors {
            bytes.appendBigEndian(d.offset)
            bytes.appendBigEndian(d.length)
            bytes.appendBigEndian(d.actualLength)
            bytes.appendBigEndian(d.status)
        }
        wireBytes = bytes[...]
    }

    init(wireBytes: ArraySlice<UInt8>) {
        precondition(wireBytes.count % WireSize.isoPacketDescriptor == 0)
        self.wireBytes = wireBytes
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { wireBytes.count / WireSize.isoPacketDescriptor }

    public subscript(position: Int) -> ISOPacketDescriptor {
        precondition(indices.contains(position), "iso descriptor index out of range")
        var reader = ByteReader(wireBytes.dropFirst(position * WireSize.isoPacketDescriptor))
        return ISOPacketDescriptor(
            offset: reader.readUInt32(), length: reader.readUInt32(),
            actualLength: reader.readUInt32(), status: reader.readInt32())
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.wireBytes.elementsEqual(rhs.wireBytes) }

    /// Every packet lies inside a buffer of `bufferLength` bytes; given `actualLength`,
    /// no packet is overfilled and the actual lengths add up to `actualLength`.
    func validate(bufferLength: UInt32, actualLength: UInt32?) throws(USBIPError) {
        if wireBytes.isEmpty { return }  // not isochronous: the common case, kept cheap
        var sum: UInt64 = 0
        for (i, packet) in enumerated() {
            if UInt64(packet.offset) + UInt64(packet.length) > UInt64(bufferLength) {
                throw .isoPacketOutOfBounds(
                    index: i, offset: packet.offset, length: packet.length, bufferLength: bufferLength)
            }
            if actualLength != nil, packet.actualLength > packet.length {
                throw .isoPacketOverfilled(index: i, actualLength: packet.actualLength, length: packet.length)
            }
            sum += UInt64(packet.actualLength)
        }
        if let actualLength, sum != UInt64(actualLength) {
            throw .isoLengthMismatch(sum: sum, actualLength: actualLength)
        }
    }
}
