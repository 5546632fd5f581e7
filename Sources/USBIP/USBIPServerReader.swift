import ByteBuffers

/// A USB/IP server's reads of its client's stream, as usbip-host makes them: a bulk OUT
/// URB's data goes from the socket straight into the transfer's buffer, not through the
/// decoder's storage. Once such a URB's header is in (`takeOUTSubmitHeader`), the reads
/// that follow fill its buffer, and the read after the buffer is full takes the next
/// header alone, so that the next URB's data does not land in the decoder first. A
/// message of any other kind sends the reads back to the decoder's full room (a stream
/// of IN URBs or unlinks needs no read per header). Pure: the reads are handed in.
public struct USBIPServerReader: Sendable {
    private var decoder: USBIPStreamDecoder
    /// The data of the URB being read into its buffer, and how much of it is there.
    private var outData: (command: SubmitCommand, data: FixedBytes, received: Int)?
    private var headerAlone = false

    public init(limits: USBIPLimits = .default) {
        decoder = USBIPStreamDecoder(receiver: .server, limits: limits)
    }

    /// What one read brought.
    public enum Progress {
        /// The peer closed its stream.
        case ended
        /// Bytes in the decoder's storage or a URB's buffer: ask `next` for messages.
        case more
        /// The data of the URB `takeOUTSubmitHeader` took is all in its buffer.
        case outData(SubmitCommand, FixedBytes)
    }

    /// One read: into the URB's buffer while one is being filled (`readInto` gets its
    /// free part), else into the decoder's storage (`read` gets the array, the offset to
    /// write at and how many bytes at most, as `USBIPStreamDecoder.read`).
    public mutating func read<Failure: Error>(
        room: Int, _ read: (inout [UInt8], Int, Int) throws(Failure) -> Int,
        into readInto: (UnsafeMutableRawBufferPointer) throws(Failure) -> Int
    ) throws(Failure) -> Progress {
        if let (command, data, received) = outData {
            let length = Int(command.transferBufferLength)
            let n = try data.fill(received..<length, by: readInto)
            guard n > 0 else { return .ended }
            guard received + n >= length else {
                outData = (command, data, received + n)
                return .more
            }
            outData = nil
            headerAlone = true
            return .outData(command, data)
        }
        let header = WireSize.urbHeader
        let waiting = decoder.bufferedByteCount
        let atMost = headerAlone && waiting < header ? header - waiting : Int.max
        if atMost == Int.max { headerAlone = false }
        let n = try decoder.read(room: room) { bytes, offset throws(Failure) in try read(&bytes, offset, atMost) }
        return n > 0 ? .more : .ended
    }

    /// Bytes that arrived some other way.
    public mutating func append(_ bytes: some Collection<UInt8>) { decoder.append(bytes) }

    /// The next whole message, as `USBIPStreamDecoder.next`.
    public mutating func next() throws(USBIPError) -> USBIPMessage? {
        guard let message = try decoder.next() else { return nil }
        headerAlone = false
        return message
    }

    /// After `next` returned nil: when what waits is the header of a bulk OUT URB of at
    /// least `minimum` bytes whose data is still to come, and `lend` gives a buffer for
    /// it, the next reads go into that buffer (`USBIPStreamDecoder.takeOUTSubmitHeader`).
    /// True when they do.
    @discardableResult
    public mutating func takeOUTSubmitHeader(minimum: Int, lend: (SubmitCommand) -> FixedBytes?) -> Bool {
        guard outData == nil else { return false }
        outData = decoder.takeOUTSubmitHeader(minimum: minimum, lend: lend)
        return outData != nil
    }

    /// Bytes of a message begun and not yet whole.
    public var partialMessageBytes: Int {
        decoder.bufferedByteCount + (outData.map { WireSize.urbHeader + $0.received } ?? 0)
    }
}
