// USBIP_RET_SUBMIT, server to client: the result of one URB.
//
//  offset  size  field (big-endian)
//  0x00    4     command = 0x00000003
//  0x04    4     seqnum of the CMD_SUBMIT answered
//  0x08    4     devid (0 from a server)
//  0x0C    4     direction (0 from a server)
//  0x10    4     ep (0 from a server)
//  0x14    4     status: 0 or a negative errno
//  0x18    4     actual_length (bytes)
//  0x1C    4     start_frame (iso)
//  0x20    4     number_of_packets: iso packet count; 0xFFFFFFFF (or 0) if not iso
//  0x24    4     error_count (iso)
//  0x28    8     padding, 0
//  0x30    n     transfer buffer: n = actual_length if the request was IN, else 0
//  0x30+n  16*p  iso packet descriptors, p = number_of_packets if iso
//
// The reply does not say its direction: a receiver knows it from the request with the
// same seqnum, which is why decoding takes a look-up of the requests in flight.

/// The completion of one URB.
public struct SubmitReply: Equatable, Sendable {
    public var seqnum: UInt32
    public var devid: UInt32
    public var direction: UInt32
    public var ep: UInt32
    public var status: Int32
    public var actualLength: UInt32
    public var startFrame: Int32
    public var numberOfPackets: UInt32
    public var errorCount: Int32
    /// The data read by an IN URB (actual_length bytes, iso packets packed without
    /// gaps); empty for OUT.
    public var transferBuffer: ArraySlice<UInt8>
    public var isoPacketDescriptors: ISOPacketDescriptors

    public init(
        seqnum: UInt32, devid: UInt32 = 0, direction: UInt32 = 0, ep: UInt32 = 0,
        status: Int32, actualLength: UInt32, startFrame: Int32 = 0,
        numberOfPackets: UInt32 = usbipNonISOPacketCount, errorCount: Int32 = 0,
        transferBuffer: ArraySlice<UInt8> = [],
        isoPacketDescriptors: ISOPacketDescriptors = ISOPacketDescriptors()
    ) {
        self.seqnum = seqnum
        self.devid = devid
        self.direction = direction
        self.ep = ep
        self.status = status
        self.actualLength = actualLength
        self.startFrame = startFrame
        self.numberOfPackets = numberOfPackets
        self.errorCount = errorCount
        self.transferBuffer = transferBuffer
        self.isoPacketDescriptors = isoPacketDescriptors
    }

    func encode(into buffer: inout [UInt8]) {
        precondition(isoPacketDescriptors.count == isoPacketCount(numberOfPackets),
                     "number_of_packets must match the iso descriptors given")
        buffer.appendBigEndian(Command.submitReply)
        buffer.appendBigEndian(seqnum)
        buffer.appendBigEndian(devid)
        buffer.appendBigEndian(direction)
        buffer.appendBigEndian(ep)
        buffer.appendBigEndian(status)
        buffer.appendBigEndian(actualLength)
        buffer.appendBigEndian(startFrame)
        buffer.appendBigEndian(numberOfPackets)
        buffer.appendBigEndian(errorCount)
        buffer.appendZeros(8)
        buffer.append(contentsOf: transferBuffer)
        buffer.append(contentsOf: isoPacketDescriptors.wireBytes)
    }

    /// `reader` stands after the command word; `requestDirection` gives the direction of
    /// the request with a seqnum (nil: no such request in flight).
    static func decode(
        from reader: inout ByteReader, limits: USBIPLimits,
        requestDirection: (UInt32) -> USBIPDirection?
    ) throws(USBIPError) -> SubmitReply? {
        let seqnum = reader.readUInt32()
        let devid = reader.readUInt32()
        let direction = reader.readUInt32()
        let ep = reader.readUInt32()
        let status = reader.readInt32()
        let actualLength = reader.readUInt32()
        guard actualLength <= limits.maxTransferBufferLength else {
            throw .actualLengthTooLarge(actualLength: actualLength, limit: limits.maxTransferBufferLength)
        }
        let startFrame = reader.readInt32()
        let numberOfPackets = reader.readUInt32()
        let packets = isoPacketCount(numberOfPackets)
        guard packets <= Int(limits.maxISOPackets) else {
            throw .tooManyISOPackets(count: numberOfPackets, limit: limits.maxISOPackets)
        }
        let errorCount = reader.readInt32()
        reader.skip(8)  // padding
        guard let requestDirection = requestDirection(seqnum) else { throw .unknownSeqnum(seqnum) }

        let dataLength = requestDirection == .in ? Int(actualLength) : 0
        let isoLength = packets * WireSize.isoPacketDescriptor
        guard reader.remaining >= dataLength + isoLength else { return nil }
        let data = reader.readSlice(dataLength)
        let iso = ISOPacketDescriptors(wireBytes: reader.readSlice(isoLength))
        // Packets were packed without gaps, so offsets refer to a buffer the size of the
        // request's; bound them by the largest buffer a request may have.
        try iso.validate(bufferLength: limits.maxTransferBufferLength, actualLength: packets > 0 ? actualLength : nil)
        return SubmitReply(
            seqnum: seqnum, devid: devid, direction: direction, ep: ep, status: status,
            actualLength: actualLength, startFrame: startFrame, numberOfPackets: numberOfPackets,
            errorCount: errorCount, transferBuffer: data, isoPacketDescriptors: iso)
    }
}
