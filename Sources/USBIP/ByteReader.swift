/// Big-endian reads from a byte slice with bounds already checked by the caller
/// (`remaining` before each group of reads). Indexes are the slice's own.
struct ByteReader {
    let bytes: ArraySlice<UInt8>
    private(set) var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    var remaining: Int { bytes.endIndex - index }
    var consumed: Int { index - bytes.startIndex }

    mutating func readUInt8() -> UInt8 {
        defer { index += 1 }
        return bytes[index]
    }

    mutating func readUInt16() -> UInt16 {
        defer { index += 2 }
        return UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
    }

    mutating func readUInt32() -> UInt32 {
        defer { index += 4 }
        return UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16
            | UInt32(bytes[index + 2]) << 8 | UInt32(bytes[index + 3])
    }

    mutating func readInt32() -> Int32 { Int32(bitPattern: readUInt32()) }

    /// The next `count` bytes as a slice sharing the input's storage (no copy).
    mutating func readSlice(_ count: Int) -> ArraySlice<UInt8> {
        defer { index += count }
        return bytes[index..<index + count]
    }

    mutating func skip(_ count: Int) { index += count }

    /// A zero-padded string field of `size` bytes: the bytes before the first zero.
    mutating func readFixedString(_ size: Int, field: USBIPError.StringField) throws(USBIPError) -> String {
        let raw = readSlice(size)
        guard let end = raw.firstIndex(of: 0) else { throw .unterminatedString(field: field) }
        guard let text = String(validating: raw[raw.startIndex..<end], as: UTF8.self) else {
            throw .invalidString(field: field)
        }
        return text
    }
}

/// Big-endian writes appended to a byte array.
extension Array where Element == UInt8 {
    mutating func appendBigEndian(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value >> 24))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    mutating func appendBigEndian(_ value: Int32) { appendBigEndian(UInt32(bitPattern: value)) }

    mutating func appendZeros(_ count: Int) { append(contentsOf: repeatElement(0, count: count)) }

    /// A string in a zero-padded field of `size` bytes. The caller guarantees it fits
    /// with its terminating zero (checked when the value was made).
    mutating func appendFixedString(_ text: String, size: Int) {
        let utf8 = text.utf8
        precondition(utf8.count < size, "string field of \(size) bytes cannot hold \(utf8.count) bytes")
        append(contentsOf: utf8)
        appendZeros(size - utf8.count)
    }
}
