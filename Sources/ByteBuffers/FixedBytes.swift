/// A block of bytes at one address for its whole life, filled once (by libusb, for a
/// transfer) and only read after that. A finished transfer hands on slices of its block,
/// so an IN URB's data goes from where the kernel put it into the socket, never through
/// an array. The block is freed when the last slice is gone.
///
/// Filling is its owner's business, through `unsafeStorage`, and must be over before any
/// slice is read (a transfer makes slices only once it completed).
public final class FixedBytes: @unchecked Sendable {
    /// The storage, at a fixed address until the block is freed: for C code that fills it.
    public let unsafeStorage: UnsafeMutableBufferPointer<UInt8>
    /// Who takes the storage back when the block goes; nil for storage of the heap's.
    private let recycler: (any FixedBytesRecycler)?

    /// `count` bytes, not initialized: only what gets filled may be sliced and read.
    public init(uninitializedCount count: Int) {
        unsafeStorage = .allocate(capacity: max(count, 0))
        recycler = nil
    }

    /// A block over storage that `recycler` lent (memory the kernel maps for a device, say),
    /// given back to it when the block goes instead of being freed.
    public init(lent storage: UnsafeMutableBufferPointer<UInt8>, recycler: any FixedBytesRecycler) {
        unsafeStorage = storage
        self.recycler = recycler
    }

    /// A block holding a copy of `bytes` (for fakes and tests).
    public convenience init(copying bytes: some Collection<UInt8>) {
        self.init(uninitializedCount: bytes.count)
        _ = unsafeStorage.initialize(from: bytes)
    }

    deinit {
        if let recycler { recycler.recycle(unsafeStorage) } else { unsafeStorage.deallocate() }
    }

    public var count: Int { unsafeStorage.count }

    /// Copies `bytes` into the block from `offset` on, as far as it holds them; how many
    /// were copied.
    @discardableResult
    public func fill(at offset: Int, with bytes: ArraySlice<UInt8>) -> Int {
        let range = (offset..<(offset + bytes.count)).clamped(to: 0..<count)
        bytes.withUnsafeBytes { source in
            UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: unsafeStorage[range]))
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<range.count]))
        }
        return range.count
    }

    /// Fills bytes `range` of the block (clamped to it) by `read`, which gets their storage
    /// and returns how many it wrote (a read from a socket straight into a transfer's
    /// buffer). What `read` returned.
    public func fill<Failure: Error>(
        _ range: Range<Int>, by read: (UnsafeMutableRawBufferPointer) throws(Failure) -> Int
    ) throws(Failure) -> Int {
        try read(
            UnsafeMutableRawBufferPointer(
                UnsafeMutableBufferPointer(rebasing: unsafeStorage[range.clamped(to: 0..<count)])))
    }

    /// Bytes `range` of the block, clamped to it.
    public func slice(_ range: Range<Int>) -> Slice {
        Slice(block: self, range: range.clamped(to: 0..<count))
    }

    /// A range of a filled block: a collection of its bytes that keeps the block alive.
    /// Indices are positions in the block, as an ArraySlice's are in its array.
    public struct Slice: RandomAccessCollection, Sendable {
        public let block: FixedBytes
        public let range: Range<Int>

        /// No bytes (of an empty block).
        public init() { self.init(block: FixedBytes(uninitializedCount: 0), range: 0..<0) }

        init(block: FixedBytes, range: Range<Int>) {
            self.block = block
            self.range = range
        }

        public var startIndex: Int { range.lowerBound }
        public var endIndex: Int { range.upperBound }
        public subscript(position: Int) -> UInt8 {
            precondition(range.contains(position), "index out of the slice")
            return block.unsafeStorage[position]
        }
        public subscript(bounds: Range<Int>) -> Slice {
            precondition(bounds.clamped(to: range) == bounds, "range out of the slice")
            return Slice(block: block, range: bounds)
        }

        /// The bytes in place, valid only inside `body`.
        public func withUnsafeBytes<Result, Failure: Error>(
            _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
        ) throws(Failure) -> Result {
            try body(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: block.unsafeStorage[range])))
        }

        /// The bytes in a new array, copied as one block.
        public func copied() -> [UInt8] {
            [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
                withUnsafeBytes { UnsafeMutableRawBufferPointer(storage).copyMemory(from: $0) }
                initialized = count
            }
        }

        /// Lets generic copies (`Array(slice)`, `append(contentsOf:)`) see one block.
        public func withContiguousStorageIfAvailable<Result>(
            _ body: (UnsafeBufferPointer<UInt8>) throws -> Result
        ) rethrows -> Result? {
            try body(UnsafeBufferPointer(rebasing: block.unsafeStorage[range]))
        }
    }
}

/// Takes back the storage of blocks it lent (`FixedBytes(lent:recycler:)`). Called once per
/// block, on whichever thread let go of its last slice: it must not block for long.
public protocol FixedBytesRecycler: AnyObject, Sendable {
    func recycle(_ storage: UnsafeMutableBufferPointer<UInt8>)
}
