import ByteBuffers

/// Cuts a byte stream, arriving in pieces of any size, into USB/IP messages.
///
/// Let a read land straight in its storage with `read(room:_:)` (or hand it bytes that
/// arrived elsewhere with `append`), then call `next` until it returns nil.
/// After an error it keeps throwing the same error: the stream is lost and the
/// connection must be closed. Memory is bounded by the largest message `limits` allow
/// plus one read.
public struct USBIPStreamDecoder: Sendable {
    public let receiver: USBIPSide
    public let limits: USBIPLimits
    private var buffer = ReceiveBuffer(capacity: 0)
    private var failure: USBIPError?

    public init(receiver: USBIPSide, limits: USBIPLimits = .default) {
        self.receiver = receiver
        self.limits = limits
    }

    /// Bytes received and not yet returned as a message.
    public var bufferedByteCount: Int { buffer.count }

    public mutating func append(_ bytes: some Collection<UInt8>) { buffer.append(bytes) }

    /// One read straight into the decoder's storage (no copy between the read and the
    /// messages), with at least `room` bytes free: `read` gets the storage and the offset
    /// to write at and returns how many bytes it wrote (0: the stream ended).
    public mutating func read<Failure: Error>(
        room: Int, _ read: (inout [UInt8], Int) throws(Failure) -> Int
    ) throws(Failure) -> Int {
        try buffer.read(room: room, read)
    }

    /// When the bytes waiting begin with the whole header of an OUT CMD_SUBMIT whose data
    /// (at least `minimum` bytes, no iso descriptors) has not all arrived: takes the header
    /// and the data that came with it, copied into the front of the block `lend` gives
    /// for the command (at least transfer_buffer_length bytes), so that its reader puts
    /// the rest of the data straight there, as usbip-host receives into the URB's buffer,
    /// instead of through this storage. The command's `transferBuffer` is empty: its
    /// data is the block's first transfer_buffer_length bytes once `received` reaches
    /// that. Nil, and nothing taken, for anything else (a header that is not whole yet, a
    /// message already whole, another command, no block), and after an error; a header
    /// that breaks the limits is `next`'s to refuse.
    public mutating func takeOUTSubmitHeader(
        minimum: Int, lend: (SubmitCommand) -> FixedBytes?
    ) -> (command: SubmitCommand, data: FixedBytes, received: Int)? {
        let headerLength = WireSize.urbHeader
        guard failure == nil, receiver == .server, buffer.count >= headerLength else { return nil }
        let front = buffer.bytes[buffer.start..<buffer.end]
        let header = URBHeader(loading: front)
        let length = Int(header.word6)
        guard header.command == Command.submit, header.direction == USBIPDirection.out.rawValue, header.ep <= 15,
            isoPacketCount(header.word8) == 0, header.word6 <= limits.maxTransferBufferLength,
            length >= max(minimum, 1), front.count < headerLength + length
        else { return nil }
        let command = SubmitCommand(
            header: header, direction: .out, transferBuffer: [], isoPacketDescriptors: ISOPacketDescriptors())
        guard let block = lend(command), block.count >= length else { return nil }
        let received = block.fill(at: 0, with: front.dropFirst(headerLength))
        buffer.consume(front.count)
        return (command, block, received)
    }

    /// The next whole message, or nil until more bytes arrive. Payloads share the
    /// decoder's storage until the next read or `append`; keep a message past that and
    /// the storage is copied then (correct, but an allocation of all of it).
    public mutating func next(
        requestDirection: (UInt32) -> USBIPDirection? = { _ in nil }
    ) throws(USBIPError) -> USBIPMessage? {
        if let failure { throw failure }
        do {
            guard
                let decoded = try USBIPMessage.decode(
                    from: buffer.bytes[buffer.start..<buffer.end], receiver: receiver, limits: limits,
                    requestDirection: requestDirection)
            else { return nil }
            buffer.consume(decoded.consumed)
            return decoded.message
        } catch {
            failure = error
            throw error
        }
    }
}
