// USBIP_CMD_UNLINK (client to server) and USBIP_RET_UNLINK (server to client).
//
//  offset  size  CMD_UNLINK                 RET_UNLINK
//  0x00    4     command = 0x00000002       command = 0x00000004
//  0x04    4     seqnum (of this message)   seqnum (of the CMD_UNLINK answered)
//  0x08    4     devid                      devid (0 from a server)
//  0x0C    4     direction                  direction (0)
//  0x10    4     ep (0)                     ep (0)
//  0x14    4     unlink_seqnum: the         status: -ECONNRESET if the URB was
//                CMD_SUBMIT to cancel       unlinked, 0 if it had completed already
//  0x18    24    padding, 0                 padding, 0
//
// After RET_UNLINK with -ECONNRESET no RET_SUBMIT follows for the unlinked URB.

/// A request to cancel a URB submitted earlier.
public struct UnlinkCommand: Equatable, Sendable {
    public var seqnum: UInt32
    public var devid: UInt32
    public var direction: UInt32
    public var ep: UInt32
    public var unlinkSeqnum: UInt32

    public init(seqnum: UInt32, devid: UInt32, direction: UInt32 = 0, ep: UInt32 = 0, unlinkSeqnum: UInt32) {
        self.seqnum = seqnum
        self.devid = devid
        self.direction = direction
        self.ep = ep
        self.unlinkSeqnum = unlinkSeqnum
    }

    func encode(into buffer: inout [UInt8]) {
        URBHeader(
            command: Command.unlink, seqnum: seqnum, devid: devid, direction: direction, ep: ep,
            word5: unlinkSeqnum
        ).store(into: &buffer)
    }

    init(header h: URBHeader) {
        self.init(seqnum: h.seqnum, devid: h.devid, direction: h.direction, ep: h.ep, unlinkSeqnum: h.word5)
    }
}

/// The answer to an unlink request.
public struct UnlinkReply: Equatable, Sendable {
    /// What Linux puts in `status` when the URB was cancelled: -ECONNRESET.
    public static let statusUnlinked: Int32 = -104

    public var seqnum: UInt32
    public var devid: UInt32
    public var direction: UInt32
    public var ep: UInt32
    public var status: Int32

    public init(seqnum: UInt32, devid: UInt32 = 0, direction: UInt32 = 0, ep: UInt32 = 0, status: Int32) {
        self.seqnum = seqnum
        self.devid = devid
        self.direction = direction
        self.ep = ep
        self.status = status
    }

    func encode(into buffer: inout [UInt8]) {
        URBHeader(
            command: Command.unlinkReply, seqnum: seqnum, devid: devid, direction: direction, ep: ep,
            word5: UInt32(bitPattern: status)
        ).store(into: &buffer)
    }

    init(header h: URBHeader) {
        self.init(
            seqnum: h.seqnum, devid: h.devid, direction: h.direction, ep: h.ep, status: Int32(bitPattern: h.word5))
    }
}
