import Synchronization

/// Where a `BlockPool`'s storage comes from and goes back to: usbfs's mapped memory for
/// a device in production, the heap in tests.
public protocol BlockSource: Sendable {
    /// `count` bytes (a multiple of the pool's granule), or nil if none can be had.
    func take(_ count: Int) -> UnsafeMutableRawPointer?
    func give(_ pointer: UnsafeMutableRawPointer, _ count: Int)
    /// Runs once, after the pool is closed and every block it lent has come back.
    func closed()
}

/// Blocks of storage that are costly to get (a system call and a mapping each), lent as
/// `FixedBytes` and kept for reuse when they come back, up to `budget` bytes in all.
/// Sizes are rounded up to `granule`, so a stream of equal transfers reuses one size.
///
/// `close()` gives back what is kept at once and what is still lent as it returns; only
/// then is the source told (a device is closed after its last mapped buffer is gone).
public final class BlockPool: FixedBytesRecycler, Sendable {
    private let source: any BlockSource
    public let budget: Int
    public let granule: Int

    /// Addresses, not pointers, so the state is plain data behind its lock.
    private struct State {
        var kept: [Int: [UInt]] = [:]
        /// Bytes taken from the source and not given back: kept plus lent.
        var heldBytes = 0
        var lent = 0
        var closing = false
        /// The source refused once: it is not asked again (a kernel without usbfs mmap,
        /// or usbfs's memory limit reached).
        var exhausted = false
    }
    private let state = Mutex(State())

    public init(source: any BlockSource, budget: Int, granule: Int) {
        self.source = source
        self.budget = budget
        self.granule = max(granule, 1)
    }

    /// A block of at least `count` bytes, or nil if the pool has none and may not take
    /// more (the caller uses the heap then).
    public func lend(_ count: Int) -> FixedBytes? {
        guard count > 0, count <= budget else { return nil }
        let size = (count + granule - 1) / granule * granule
        var giveBack: [(address: UInt, size: Int)] = []
        enum Step {
            case lent(UInt)
            case take, none
        }
        let step: Step = state.withLock { state in
            if state.closing { return .none }
            if let address = state.kept[size]?.popLast() {
                state.lent += 1
                return .lent(address)
            }
            if state.exhausted { return .none }
            // Room for a new size is made by giving back blocks of other sizes first.
            while state.heldBytes + size > budget, let other = state.kept.first(where: { !$0.value.isEmpty }) {
                let address = state.kept[other.key]!.removeLast()
                state.heldBytes -= other.key
                giveBack.append((address, other.key))
            }
            guard state.heldBytes + size <= budget else { return .none }
            state.heldBytes += size
            state.lent += 1
            return .take
        }
        for (address, count) in giveBack { give(address, count) }
        switch step {
        case .none:
            return nil
        case .lent(let address):
            return block(UnsafeMutableRawPointer(bitPattern: address)!, size)
        case .take:
            if let pointer = source.take(size) { return block(pointer, size) }
            let closeNow = state.withLock { state in
                state.heldBytes -= size
                state.lent -= 1
                state.exhausted = true
                return state.closing && state.lent == 0
            }
            if closeNow { source.closed() }
            return nil
        }
    }

    private func block(_ pointer: UnsafeMutableRawPointer, _ size: Int) -> FixedBytes {
        let storage = UnsafeMutableBufferPointer(start: pointer.assumingMemoryBound(to: UInt8.self), count: size)
        return FixedBytes(lent: storage, recycler: self)
    }

    private func give(_ address: UInt, _ size: Int) {
        if let pointer = UnsafeMutableRawPointer(bitPattern: address) { source.give(pointer, size) }
    }

    public func recycle(_ storage: UnsafeMutableBufferPointer<UInt8>) {
        guard let pointer = storage.baseAddress else { return }
        let address = UInt(bitPattern: pointer)
        let size = storage.count
        let (giveBack, closeNow) = state.withLock { state in
            state.lent -= 1
            if state.closing {
                state.heldBytes -= size
                return (true, state.lent == 0)
            }
            state.kept[size, default: []].append(address)
            return (false, false)
        }
        if giveBack { give(address, size) }
        if closeNow { source.closed() }
    }

    /// Gives back every kept block; blocks still lent go back as they return, and the
    /// source hears `closed()` after the last. Later `lend` calls get nil.
    public func close() {
        var giveBack: [(address: UInt, size: Int)] = []
        let closeNow: Bool = state.withLock { state in
            guard !state.closing else { return false }
            state.closing = true
            for (size, addresses) in state.kept {
                for address in addresses { giveBack.append((address, size)) }
                state.heldBytes -= size * addresses.count
            }
            state.kept.removeAll()
            return state.lent == 0
        }
        for (address, count) in giveBack { give(address, count) }
        if closeNow { source.closed() }
    }

    /// What the pool holds: for tests and logs.
    public var counts: (lent: Int, heldBytes: Int) { state.withLock { ($0.lent, $0.heldBytes) } }
}
