import ByteBuffers
import USBIP

/// A message for the importer. The RET_SUBMIT of an IN URB leaves its data where the
/// device put it, in the transfer's buffer (`data`), to be written from there right after
/// `message`, which is then the reply without it (its actual_length still counts it):
/// on the plain path no copy of the data is made in this process.
public struct OutboundMessage: Sendable {
    /// The message; when `data` is set, a RET_SUBMIT without its transfer buffer.
    public let message: USBIPMessage
    /// The data that follows the message on the wire (a non-iso IN reply's only).
    public let data: FixedBytes.Slice?

    public init(_ message: USBIPMessage) {
        self.message = message
        data = nil
    }

    /// A non-iso RET_SUBMIT whose data is `data`: on the wire the reply's header, then the
    /// data (iso replies carry their descriptors after the data: they are made whole).
    init(_ reply: SubmitReply, data: FixedBytes.Slice) {
        var header = reply
        header.transferBuffer = []
        header.actualLength = UInt32(data.count)
        message = .submitReply(header)
        self.data = data
    }

    /// The message with its data copied in, as a decoder would see it.
    public var whole: USBIPMessage {
        guard let data, case .submitReply(var reply) = message else { return message }
        reply.transferBuffer = data.copied()[...]
        return .submitReply(reply)
    }

    /// The wire bytes in arrays, for a writer that keeps them (a session channel's frames
    /// are slices of its parts): the message, then the data copied, unless it is small
    /// enough to go in one array with the message.
    public var partsCopyingData: WireParts {
        guard let data else { return message.encodedParts }
        if data.count < USBIPMessage.separateDataBytes { return WireParts(encodedWithData(data)[...]) }
        return WireParts(message.encoded[...], data.copied()[...])
    }

    /// The message, then `data`, in one array allocated once at its final size.
    private func encodedWithData(_ data: FixedBytes.Slice) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(USBIPMessage.urbHeaderBytes + data.count)
        message.encode(into: &bytes)
        data.withUnsafeBytes { bytes.append(contentsOf: $0) }
        return bytes
    }
}
