import ByteBuffers

extension ReceiveBuffer {
    /// One read of `stream` straight into the storage, with at least `room` bytes free
    /// after what waits; what the read returned (0: the peer closed).
    public mutating func read(from stream: any ByteStream, room: Int) throws -> Int {
        try read(room: room) { bytes, offset in try stream.read(into: &bytes, from: offset) }
    }
}
