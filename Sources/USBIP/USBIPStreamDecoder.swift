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
