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

    /// The command as its reply needs it while the URB is in flight: without its OUT data,
    /// its iso descriptors in storage of their own. A decoded command's bytes are slices of
    /// the decoder's buffer, and a buffer still referenced when the next bytes arrive is
    /// copied into a fresh allocation (copy on write): keeping the command itself would
    /// cost that allocation and copy for every URB in flight.
    public var withoutDecoderStorage: SubmitCommand {
        var kept = self
        kept.transferBuffer = []
        if !isoPacketDescriptors.isEmpty {
            kept.isoPacketDescriptors = ISOPacketDescriptors(wireBytes: Array(isoPacketDescriptors.wireBytes)[...])
        }
        return kept
    }

    func encode(into buffer: inout [UInt8]) {
        precondition(
            direction == .in || transferBuffer.count == Int(transferBufferLength),
            "an OUT submit carries exactly transfer_buffer_length bytes")
        precondition(direction == .out || transferBuffer.isEmpty, "an IN submit carries no data")
        precondition(
            isoPacketDescriptors.count == isoPacketCount(numberOfPackets),
            "number_of_packets must match the iso descriptors given")
        URBHeader(
            command: Command.submit, seqnum: seqnum, devid: devid, direction: direction.rawValue, ep: ep,
            word5: transferFlags, word6: transferBufferLength, word7: UInt32(bitPattern: startFrame),
            word8: numberOfPackets, word9: UInt32(bitPattern: interval), tail: setup.wire
        )
        .store(into: &buffer)
        // Most URBs carry no data one way and no iso descriptors: skip empty appends.
        if !transferBuffer.isEmpty { buffer.append(contentsOf: transferBuffer) }
        if !isoPacketDescriptors.isEmpty { buffer.append(contentsOf: isoPacketDescriptors.wireBytes) }
    }

    /// `bytes` starts with a whole header of this command; nil until the whole message is there.
    static func decode(header h: URBHeader, bytes: ArraySlice<UInt8>, limits: USBIPLimits)
        throws(USBIPError) -> DecodedMessage?
    {
        guard let direction = USBIPDirection(rawValue: h.direction) else { throw .invalidDirection(h.direction) }
        guard h.ep <= 15 else { throw .invalidEndpoint(h.ep) }
        let transferBufferLength = h.word6
        guard transferBufferLength <= limits.maxTransferBufferLength else {
            throw .transferTooLarge(length: transferBufferLength, limit: limits.maxTransferBufferLength)
        }
        let numberOfPackets = h.word8
        let packets = isoPacketCount(numberOfPackets)
        guard packets <= Int(limits.maxISOPackets) else {
            throw .tooManyISOPackets(count: numberOfPackets, limit: limits.maxISOPackets)
        }
        let dataLength = direction == .out ? Int(transferBufferLength) : 0
        let isoLength = packets * WireSize.isoPacketDescriptor
        let total = WireSize.urbHeader + dataLength + isoLength
        guard bytes.count >= total else { return nil }
        let iso = ISOPacketDescriptors(wireBytes: bytes.payload(at: WireSize.urbHeader + dataLength, count: isoLength))
        try iso.validate(bufferLength: transferBufferLength, actualLength: nil)
        let submit = SubmitCommand(
            header: h, direction: direction, transferBuffer: bytes.payload(at: WireSize.urbHeader, count: dataLength),
            isoPacketDescriptors: iso)
        return DecodedMessage(message: .submit(submit), consumed: total)
    }

    /// The command a decoded header describes, with its data and iso descriptors.
    init(
        header h: URBHeader, direction: USBIPDirection, transferBuffer: ArraySlice<UInt8>,
        isoPacketDescriptors: ISOPacketDescriptors
    ) {
        self.init(
            seqnum: h.seqnum, devid: h.devid, direction: direction, ep: h.ep, transferFlags: h.word5,
            transferBufferLength: h.word6, startFrame: Int32(bitPattern: h.word7), numberOfPackets: h.word8,
            interval: Int32(bitPattern: h.word9), setup: SetupPacket(wire: h.tail), transferBuffer: transferBuffer,
            isoPacketDescriptors: isoPacketDescriptors)
    }
}

/// How many iso descriptors follow a header whose number_of_packets is `raw`.
func isoPacketCount(_ raw: UInt32) -> Int {
    raw == usbipNonISOPacketCount ? 0 : Int(raw)
}
