// The 48-byte header shared by the four URB-phase messages:
//
//  offset  size  field
//  0x00    4*5   usbip_header_basic: command, seqnum, devid, direction, ep (big-endian)
//  0x14    4*5   five big-endian words, their meaning per command
//  0x28    8     CMD_SUBMIT: the SETUP packet, verbatim (its fields little-endian);
//                other commands: padding, 0
//
// Read and written as one block, not byte by byte: this header is on the path of every
// URB, so its cost is the codec's cost (docs/performance.md).

/// The words of a URB-phase header, host byte order.
struct URBHeader {
    var command: UInt32
    var seqnum: UInt32
    var devid: UInt32
    var direction: UInt32
    var ep: UInt32
    /// The five command-specific words at 0x14...0x24.
    var word5, word6, word7, word8, word9: UInt32
    /// The 8 bytes at 0x28 as they lie on the wire, read as a little-endian integer.
    var tail: UInt64

    init(
        command: UInt32, seqnum: UInt32, devid: UInt32, direction: UInt32, ep: UInt32,
        word5: UInt32, word6: UInt32 = 0, word7: UInt32 = 0, word8: UInt32 = 0, word9: UInt32 = 0, tail: UInt64 = 0
    ) {
        self.command = command
        self.seqnum = seqnum
        self.devid = devid
        self.direction = direction
        self.ep = ep
        self.word5 = word5
        self.word6 = word6
        self.word7 = word7
        self.word8 = word8
        self.word9 = word9
        self.tail = tail
    }

    /// Loads a header from the first 48 bytes of `bytes` (the caller checked the count).
    init(loading bytes: ArraySlice<UInt8>) {
        precondition(bytes.count >= WireSize.urbHeader)
        self = bytes.withUnsafeBytes { raw in
            func word(_ index: Int) -> UInt32 {
                UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
            }
            return URBHeader(
                command: word(0), seqnum: word(1), devid: word(2), direction: word(3), ep: word(4),
                word5: word(5), word6: word(6), word7: word(7), word8: word(8), word9: word(9),
                tail: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 40, as: UInt64.self)))
        }
    }

    /// Appends the 48 header bytes.
    func store(into buffer: inout [UInt8]) {
        let block = (
            command.bigEndian, seqnum.bigEndian, devid.bigEndian, direction.bigEndian, ep.bigEndian,
            word5.bigEndian, word6.bigEndian, word7.bigEndian, word8.bigEndian, word9.bigEndian,
            tail.littleEndian
        )
        Swift.withUnsafeBytes(of: block) { raw in
            precondition(raw.count == WireSize.urbHeader, "URB header block is not 48 bytes")
            buffer.append(contentsOf: raw.assumingMemoryBound(to: UInt8.self))
        }
    }
}

extension ArraySlice<UInt8> {
    /// `count` bytes from `offset` (relative to the slice's start) as a slice of the same
    /// storage; an empty range gives an empty slice that keeps no storage alive.
    func payload(at offset: Int, count: Int) -> ArraySlice<UInt8> {
        guard count > 0 else { return [] }
        return self[(startIndex + offset)..<(startIndex + offset + count)]
    }
}
