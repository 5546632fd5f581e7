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

    /// The wire length, message and data, when it is known before encoding (every URB-phase
    /// message); nil for the op phase's replies.
    public var wireLength: Int? { message.urbPhaseLength.map { $0 + (data?.count ?? 0) } }

    /// Appends the wire bytes: the message, then its data.
    public func encode(into bytes: inout [UInt8]) {
        message.encode(into: &bytes)
        data?.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }
}
