// USBIP_CMD_SUBMIT, client to server: submit one URB.
//
//  offset  size  field (big-endian)
//  0x00    4     command = 0x00000001
//  0x04    4     seqnum
//  0x08    4     devid = (busnum << 16) | devnum
//  0x0C    4     direction: 0 OUT, 1 IN
//  0x10    4     ep: endpoint number 0...15
//  0x14    4     transfer_flags (URB_* flags)
//  0x18    4     transfer_buffer_length (bytes)
//  0x1C    4     start_frame (iso)
//  0x20    4     number_of_packets: iso packet count; 0xFFFFFFFF (or 0) if not iso
//  0x24    4     interval
//  0x28    8     setup: SETUP packet, verbatim
//  0x30    n     transfer buffer: n = transfer_buffer_length if OUT, else 0
//  0x30+n  16*p  iso packet descriptors, p = number_of_packets if iso

/// A request to run one URB on the exported device.
public struct SubmitCommand: Equatable, Sendable {
    public var seqnum: UInt32
    public var devid: UInt32
    public var direction: USBIPDirection
    public var ep: UInt32
    public var transferFlags: UInt32
    public var transferBufferLength: UInt32
    public var startFrame: Int32
    public var numberOfPackets: UInt32
    public var interval: Int32
    public var setup: SetupPacket
    /// The data to send for an OUT URB (transfer_buffer_length bytes); empty for IN.
    public var transferBuffer: ArraySlice<UInt8>
    public var isoPacketDescriptors: ISOPacketDescriptors

    public init(
        seqnum: UInt32, devid: UInt32, direction: USBIPDirection, ep: UInt32,
        transferFlags: UInt32 = 0, transferBufferLength: UInt32, startFrame: Int32 = 0,
        numberOfPackets: UInt32 = usbipNonISOPacketCount, interval: Int32 = 0,
        setup: SetupPacket = .zero, transferBuffer: ArraySlice<UInt8> = [],
        isoPacketDescriptors: ISOPacketDescriptors = ISOPacketDescriptors()
    ) {
        self.seqnum = seqnum
        self.devid = devid
        self.direction = direction
        self.ep = ep
        self.transferFlags = transferFlags
        self.transferBufferLength = transferBufferLength
        self.startFrame = startFrame
        self.numberOfPackets = numberOfPackets
        self.interval = interval
        self.setup = setup
        self.transferBuffer = transferBuffer
        self.isoPacketDescriptors = isoPacketDescriptors
    }

    /// Whether iso packet descriptors follow: any count but 0 and 0xFFFFFFFF.
    public var isISO: Bool { isoPacketCount(numberOfPackets) > 0 }

    func encode(into buffer: inout [UInt8]) {
        precondition(direction == .in || transferBuffer.count == Int(transferBufferLength),
                     "an OUT submit carries exactly transfer_buffer_length bytes")
        precondition(direction == .out || transferBuffer.isEmpty, "an IN submit carries no data")
        precondition(isoPacketDescriptors.count == isoPacketCount(numberOfPackets),
                     "number_of_packets must match the iso descriptors given")
        buffer.appendBigEndian(Command.submit)
        buffer.appendBigEndian(seqnum)
        buffer.appendBigEndian(devid)
        buffer.appendBigEndian(direction.rawValue)
        buffer.appendBigEndian(ep)
        buffer.appendBigEndian(transferFlags)
        buffer.appendBigEndian(transferBufferLength)
        buffer.appendBigEndian(startFrame)
        buffer.appendBigEndian(numberOfPackets)
        buffer.appendBigEndian(interval)
        setup.encode(into: &buffer)
        buffer.append(contentsOf: transferBuffer)
        buffer.append(contentsOf: isoPacketDescriptors.wireBytes)
    }

    /// `reader` stands after the command word; nil until the whole message is there.
    static func decode(from reader: inout ByteReader, limits: USBIPLimits) throws(USBIPError) -> SubmitCommand? {
        let seqnum = reader.readUInt32()
        let devid = reader.readUInt32()
        let rawDirection = reader.readUInt32()
        guard let direction = USBIPDirection(rawValue: rawDirection) else { throw .invalidDirection(rawDirection) }
        let ep = reader.readUInt32()
        guard ep <= 15 else { throw .invalidEndpoint(ep) }
        let transferFlags = reader.readUInt32()
        let transferBufferLength = reader.readUInt32()
        guard transferBufferLength <= limits.maxTransferBufferLength else {
            throw .transferTooLarge(length: transferBufferLength, limit: limits.maxTransferBufferLength)
        }
        let startFrame = reader.readInt32()
        let numberOfPackets = reader.readUInt32()
        let packets = isoPacketCount(numberOfPackets)
        guard packets <= Int(limits.maxISOPackets) else {
            throw .tooManyISOPackets(count: numberOfPackets, limit: limits.maxISOPackets)
        }
        let interval = reader.readInt32()
        let setup = SetupPacket(reading: &reader)

        let dataLength = direction == .out ? Int(transferBufferLength) : 0
        let isoLength = packets * WireSize.isoPacketDescriptor
        guard reader.remaining >= dataLength + isoLength else { return nil }
        let data = reader.readSlice(dataLength)
        let iso = ISOPacketDescriptors(wireBytes: reader.readSlice(isoLength))
        try iso.validate(bufferLength: transferBufferLength, actualLength: nil)
        return SubmitCommand(
            seqnum: seqnum, devid: devid, direction: direction, ep: ep, transferFlags: transferFlags,
            transferBufferLength: transferBufferLength, startFrame: startFrame,
            numberOfPackets: numberOfPackets, interval: interval, setup: setup,
            transferBuffer: data, isoPacketDescriptors: iso)
    }
}

/// How many iso descriptors follow a header whose number_of_packets is `raw`.
func isoPacketCount(_ raw: UInt32) -> Int {
    raw == usbipNonISOPacketCount ? 0 : Int(raw)
}
