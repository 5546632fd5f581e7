/// Cuts a byte stream, arriving in pieces of any size, into USB/IP messages.
///
/// Feed it what a read returned with `append`, then call `next` until it returns nil.
/// After an error it keeps throwing the same error: the stream is lost and the
/// connection must be closed. Memory is bounded by the largest message `limits` allow
/// plus one read.
public struct USBIPStreamDecoder: Sendable {
    public let receiver: USBIPSide
    public let limits: USBIPLimits
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var failure: USBIPError?

    public init(receiver: USBIPSide, limits: USBIPLimits = .default) {
        self.receiver = receiver
        self.limits = limits
    }

    /// Bytes received and not yet returned as a message.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// The next whole message, or nil until more bytes arrive. Payloads share the
    /// decoder's storage until the next `append`; keep a message past that and its
    /// bytes are copied then (correct, but an allocation).
    public mutating func next(
        requestDirection: (UInt32) -> USBIPDirection? = { _ in nil }
    ) throws(USBIPError) -> USBIPMessage? {
        if let failure { throw failure }
        do {
            guard
                let decoded = try USBIPMessage.decode(
                    from: buffer[readIndex...], receiver: receiver, limits: limits,
                    requestDirection: requestDirection)
            else { return nil }
            readIndex += decoded.consumed
            return decoded.message
        } catch {
            failure = error
            throw error
        }
    }

    /// Drops consumed bytes, keeping the array's capacity.
    private mutating func compact() {
        guard readIndex > 0 else { return }
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
        } else {
            buffer.removeSubrange(0..<readIndex)
        }
        readIndex = 0
    }
}
