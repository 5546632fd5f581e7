// The eight USB/IP messages and how a byte stream is cut into them.
//
// Op phase (before and during import), all starting with an 8-byte op header:
//
//  offset  size  field (big-endian)
//  0x0     2     version = 0x0111
//  0x2     2     code: 0x8005 OP_REQ_DEVLIST, 0x0005 OP_REP_DEVLIST,
//                      0x8003 OP_REQ_IMPORT,  0x0003 OP_REP_IMPORT
//  0x4     4     status (replies; 0 in requests)
//
//  OP_REQ_DEVLIST  header only
//  OP_REP_DEVLIST  header, then if status is 0: count (4), count device records
//                  each with its interfaces (see ExportedDevice.swift)
//  OP_REQ_IMPORT   header, busid (32, zero-padded)
//  OP_REP_IMPORT   header, then if status is 0: one device record without interfaces
//
// URB phase (after a successful import): 48-byte headers whose first word is the
// command 1...4, so their first two bytes are zero, which no op header has (version
// 0x0111). The decoder tells the phases apart by that and does not track them: the
// exporter and client decide which messages their phase admits.

/// One USB/IP message.
public enum USBIPMessage: Equatable, Sendable {
    case requestDeviceList
    /// The exported devices; `status` other than ok carries no list.
    case replyDeviceList(status: OpStatus, devices: [ExportedDevice])
    case requestImport(busid: String)
    /// The imported device when `status` is ok; nil otherwise.
    case replyImport(status: OpStatus, device: ExportedDevice?)
    case submit(SubmitCommand)
    case submitReply(SubmitReply)
    case unlink(UnlinkCommand)
    case unlinkReply(UnlinkReply)

    public var kind: MessageKind {
        switch self {
        case .requestDeviceList: .requestDeviceList
        case .replyDeviceList: .replyDeviceList
        case .requestImport: .requestImport
        case .replyImport: .replyImport
        case .submit: .submit
        case .submitReply: .submitReply
        case .unlink: .unlink
        case .unlinkReply: .unlinkReply
        }
    }

    /// Which side receives this message.
    public var receiver: USBIPSide {
        switch self {
        case .requestDeviceList, .requestImport, .submit, .unlink: .server
        case .replyDeviceList, .replyImport, .submitReply, .unlinkReply: .client
        }
    }

    /// Appends the message's wire bytes. Values that cannot be encoded (a busid that
    /// does not fit its field, descriptors that disagree with number_of_packets) are
    /// programming errors and trap; everything built by a decoder encodes.
    public func encode(into buffer: inout [UInt8]) {
        switch self {
        case .requestDeviceList:
            appendOpHeader(OpCode.requestDeviceList, status: .ok, into: &buffer)
        case .replyDeviceList(let status, let devices):
            appendOpHeader(OpCode.replyDeviceList, status: status, into: &buffer)
            guard status == .ok else { return }
            buffer.appendBigEndian(UInt32(devices.count))
            for device in devices { device.encode(into: &buffer, withInterfaces: true) }
        case .requestImport(let busid):
            appendOpHeader(OpCode.requestImport, status: .ok, into: &buffer)
            buffer.appendFixedString(busid, size: WireSize.busid)
        case .replyImport(let status, let device):
            appendOpHeader(OpCode.replyImport, status: status, into: &buffer)
            guard status == .ok else { return }
            precondition(device != nil, "an OK import reply carries the device")
            device?.encode(into: &buffer, withInterfaces: false)
        case .submit(let m): m.encode(into: &buffer)
        case .submitReply(let m): m.encode(into: &buffer)
        case .unlink(let m): m.encode(into: &buffer)
        case .unlinkReply(let m): m.encode(into: &buffer)
        }
    }

    /// The message's wire bytes in a new array.
    public var encoded: [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(urbPhaseLength ?? 0)
        encode(into: &buffer)
        return buffer
    }

    /// A URB-phase message's wire length, so its array is allocated once (the op phase's
    /// messages are rare: they grow as they are written). Nil for those.
    public var urbPhaseLength: Int? {
        switch self {
        case .submit(let m): WireSize.urbHeader + m.transferBuffer.count + m.isoPacketDescriptors.wireBytes.count
        case .submitReply(let m):
            WireSize.urbHeader + m.transferBuffer.count + m.isoPacketDescriptors.wireBytes.count
        case .unlink, .unlinkReply: WireSize.urbHeader
        default: nil
        }
    }

    /// The message's wire bytes in pieces that follow each other: a reply with data is
    /// its header and its data as it lies (no copy of the data), for a gathered write;
    /// any other message is one piece.
    public var encodedParts: WireParts {
        if case .submitReply(let reply) = self, reply.transferBuffer.count >= Self.separateDataBytes,
            reply.isoPacketDescriptors.isEmpty
        {
            return WireParts(reply.encodedHeader[...], reply.transferBuffer)
        }
        return WireParts(encoded[...])
    }

    /// Below this, a reply's data is copied after its header: one piece is cheaper.
    public static let separateDataBytes = 1024

    /// Decodes the message at the start of `bytes`, as received by `receiver`.
    ///
    /// Returns nil when `bytes` holds only a prefix of a valid message ("need more
    /// bytes"); otherwise the message and how many bytes it took. Throws only when the
    /// bytes already received can be the start of no valid message. Payloads are slices
    /// of `bytes` (no copy). `requestDirection` gives, for a RET_SUBMIT's seqnum, the
    /// direction of the request in flight (only a client needs it).
    public static func decode(
        from bytes: ArraySlice<UInt8>, receiver: USBIPSide, limits: USBIPLimits = .default,
        requestDirection: (UInt32) -> USBIPDirection? = { _ in nil }
    ) throws(USBIPError) -> DecodedMessage? {
        guard bytes.count >= 2 else { return nil }
        if bytes[bytes.startIndex] == 0, bytes[bytes.startIndex + 1] == 0 {
            return try decodeURB(from: bytes, receiver: receiver, limits: limits, requestDirection: requestDirection)
        }
        var reader = ByteReader(bytes)
        guard let message = try decodeOp(from: &reader, receiver: receiver, limits: limits) else { return nil }
        return DecodedMessage(message: message, consumed: reader.consumed)
    }

    private static func decodeOp(
        from reader: inout ByteReader, receiver: USBIPSide, limits: USBIPLimits
    ) throws(USBIPError) -> USBIPMessage? {
        let version = reader.readUInt16()
        guard version == usbipVersion else { throw .unsupportedVersion(version) }
        guard reader.remaining >= 2 else { return nil }
        let code = reader.readUInt16()
        let kind: MessageKind
        switch code {
        case OpCode.requestDeviceList: kind = .requestDeviceList
        case OpCode.replyDeviceList: kind = .replyDeviceList
        case OpCode.requestImport: kind = .requestImport
        case OpCode.replyImport: kind = .replyImport
        default: throw .unknownOperation(code)
        }
        let expectedReceiver: USBIPSide = code & 0x8000 != 0 ? .server : .client
        guard expectedReceiver == receiver else { throw .unexpectedMessage(kind, receiver: receiver) }
        guard reader.remaining >= 4 else { return nil }
        let status = OpStatus(rawValue: reader.readUInt32())

        switch kind {
        case .requestDeviceList:
            return .requestDeviceList
        case .requestImport:
            guard reader.remaining >= WireSize.busid else { return nil }
            return .requestImport(busid: try reader.readFixedString(WireSize.busid, field: .busid))
        case .replyImport:
            guard status == .ok else { return .replyImport(status: status, device: nil) }
            guard let device = try ExportedDevice.decode(from: &reader, withInterfaces: false) else { return nil }
            return .replyImport(status: status, device: device)
        default:  // .replyDeviceList
            guard status == .ok else { return .replyDeviceList(status: status, devices: []) }
            guard reader.remaining >= WireSize.deviceCount else { return nil }
            let count = reader.readUInt32()
            guard count <= limits.maxDevices else { throw .tooManyDevices(count: count, limit: limits.maxDevices) }
            var devices: [ExportedDevice] = []
            devices.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let device = try ExportedDevice.decode(from: &reader, withInterfaces: true) else { return nil }
                devices.append(device)
            }
            return .replyDeviceList(status: status, devices: devices)
        }
    }

    private static func decodeURB(
        from bytes: ArraySlice<UInt8>, receiver: USBIPSide, limits: USBIPLimits,
        requestDirection: (UInt32) -> USBIPDirection?
    ) throws(USBIPError) -> DecodedMessage? {
        // The command word alone tells whether the stream is wrong; check it as soon as
        // it is here, then wait for the whole 48-byte header.
        guard bytes.count >= 4 else { return nil }
        let s = bytes.startIndex
        let command =
            UInt32(bytes[s]) << 24 | UInt32(bytes[s + 1]) << 16 | UInt32(bytes[s + 2]) << 8 | UInt32(bytes[s + 3])
        let kind: MessageKind
        switch command {
        case Command.submit: kind = .submit
        case Command.submitReply: kind = .submitReply
        case Command.unlink: kind = .unlink
        case Command.unlinkReply: kind = .unlinkReply
        default: throw .unknownCommand(command)
        }
        let expectedReceiver: USBIPSide = (kind == .submit || kind == .unlink) ? .server : .client
        guard expectedReceiver == receiver else { throw .unexpectedMessage(kind, receiver: receiver) }
        guard bytes.count >= WireSize.urbHeader else { return nil }
        let header = URBHeader(loading: bytes)

        switch kind {
        case .submit:
            return try SubmitCommand.decode(header: header, bytes: bytes, limits: limits)
        case .submitReply:
            return try SubmitReply.decode(
                header: header, bytes: bytes, limits: limits, requestDirection: requestDirection)
        case .unlink:
            return DecodedMessage(message: .unlink(UnlinkCommand(header: header)), consumed: WireSize.urbHeader)
        default:  // .unlinkReply
            return DecodedMessage(message: .unlinkReply(UnlinkReply(header: header)), consumed: WireSize.urbHeader)
        }
    }
}

/// A message decoded from the start of some bytes, and how many of them it took.
public struct DecodedMessage: Equatable, Sendable {
    public var message: USBIPMessage
    public var consumed: Int
}

private func appendOpHeader(_ code: UInt16, status: OpStatus, into buffer: inout [UInt8]) {
    buffer.appendBigEndian(usbipVersion)
    buffer.appendBigEndian(code)
    buffer.appendBigEndian(status.rawValue)
}
