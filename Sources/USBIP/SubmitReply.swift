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

    /// number_of_packets as sent. The descriptors decide it, so a reply never announces
    /// packets it does not carry: a receiver would take the next message for them.
    var wireNumberOfPackets: UInt32 {
        if !isoPacketDescriptors.isEmpty { return UInt32(isoPacketDescriptors.count) }
        return isoPacketCount(numberOfPackets) == 0 ? numberOfPackets : usbipNonISOPacketCount
    }

    private var header: URBHeader {
        URBHeader(
            command: Command.submitReply, seqnum: seqnum, devid: devid, direction: direction, ep: ep,
            word5: UInt32(bitPattern: status), word6: actualLength, word7: UInt32(bitPattern: startFrame),
            word8: wireNumberOfPackets, word9: UInt32(bitPattern: errorCount))
    }

    /// The header alone, without the data and the descriptors that follow it.
    var encodedHeader: [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(WireSize.urbHeader)
        header.store(into: &buffer)
        return buffer
    }

    func encode(into buffer: inout [UInt8]) {
        header.store(into: &buffer)
        // Most URBs carry no data one way and no iso descriptors: skip empty appends.
        if !transferBuffer.isEmpty { buffer.append(contentsOf: transferBuffer) }
        if !isoPacketDescriptors.isEmpty { buffer.append(contentsOf: isoPacketDescriptors.wireBytes) }
    }

    /// `bytes` starts with a whole header of this command; `requestDirection` gives the
    /// direction of the request with a seqnum (nil: no such request in flight).
    static func decode(
        header h: URBHeader, bytes: ArraySlice<UInt8>, limits: USBIPLimits,
        requestDirection: (UInt32) -> USBIPDirection?
    ) throws(USBIPError) -> DecodedMessage? {
        let actualLength = h.word6
        guard actualLength <= limits.maxTransferBufferLength else {
            throw .actualLengthTooLarge(actualLength: actualLength, limit: limits.maxTransferBufferLength)
        }
        let numberOfPackets = h.word8
        let packets = isoPacketCount(numberOfPackets)
        guard packets <= Int(limits.maxISOPackets) else {
            throw .tooManyISOPackets(count: numberOfPackets, limit: limits.maxISOPackets)
        }
        guard let requestDirection = requestDirection(h.seqnum) else { throw .unknownSeqnum(h.seqnum) }
        let dataLength = requestDirection == .in ? Int(actualLength) : 0
        let isoLength = packets * WireSize.isoPacketDescriptor
        let total = WireSize.urbHeader + dataLength + isoLength
        guard bytes.count >= total else { return nil }
        let iso = ISOPacketDescriptors(wireBytes: bytes.payload(at: WireSize.urbHeader + dataLength, count: isoLength))
        // Packets were packed without gaps, so offsets refer to a buffer the size of the
        // request's; bound them by the largest buffer a request may have.
        try iso.validate(bufferLength: limits.maxTransferBufferLength, actualLength: packets > 0 ? actualLength : nil)
        let reply = SubmitReply(
            seqnum: h.seqnum, devid: h.devid, direction: h.direction, ep: h.ep, status: Int32(bitPattern: h.word5),
            actualLength: actualLength, startFrame: Int32(bitPattern: h.word7), numberOfPackets: numberOfPackets,
            errorCount: Int32(bitPattern: h.word9),
            transferBuffer: bytes.payload(at: WireSize.urbHeader, count: dataLength), isoPacketDescriptors: iso)
        return DecodedMessage(message: .submitReply(reply), consumed: total)
    }
}
