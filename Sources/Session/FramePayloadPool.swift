/// The bytes a sent data frame's payload is a slice of. A frame stays in the unacked
/// queue until the peer acknowledges it (it is sent again after a reconnect), so its
/// bytes cannot be a buffer the producer reuses; once acknowledged, the storage goes back
/// to the session's `FramePayloadPool` for the next frame, and a steady stream of URBs
/// allocates none.
final class FrameStorage: @unchecked Sendable {
    /// Written only by whoever took the storage from the pool, before its frames are
    /// queued; read-only while frames hold slices of it.
    var bytes: [UInt8]

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }
}

/// Storage for the payloads of frames this end sends, kept from acknowledged frames.
/// Sizes are rounded up to a power of two (from 64 bytes to one frame's worth), one
/// free list per size (a list holds storage of at least its size), and the free lists
/// hold at most `maxBytes` of capacity together: a burst of large frames leaves behind
/// no more than that. Guarded by the session's monitor.
struct FramePayloadPool {
    /// The capacities kept: 64, 128, ... up to the first power of two that holds a
    /// whole frame's payload.
    static let sizeClasses: [Int] = {
        var sizes = [64]
        while sizes.last! < SessionFrame.maxPayload { sizes.append(sizes.last! * 2) }
        return sizes
    }()

    static let defaultMaxBytes = 256 * 1024

    private var free: [[FrameStorage]] = Array(repeating: [], count: Self.sizeClasses.count)
    /// Capacity on the free lists now.
    private(set) var freeBytes = 0
    let maxBytes: Int

    init(maxBytes: Int = Self.defaultMaxBytes) {
        self.maxBytes = maxBytes
    }

    /// Storage with room for `count` bytes, from a free list when one has some; newly
    /// allocated otherwise (exactly `count` when that is more than any size class). What
    /// it holds is left to the caller to clear or overwrite.
    mutating func take(capacity count: Int) -> FrameStorage {
        guard let index = Self.sizeClasses.firstIndex(where: { $0 >= count }) else {
            return FrameStorage(capacity: count)
        }
        guard let storage = free[index].popLast() else { return FrameStorage(capacity: Self.sizeClasses[index]) }
        freeBytes -= storage.bytes.capacity
        return storage
    }

    /// Keeps `storage` for a later `take` if nothing else refers to it (no frame still
    /// holds a slice of it), it is no larger than twice the largest size class, and the
    /// free lists have room for it.
    mutating func giveBack(_ storage: inout FrameStorage) {
        let capacity = storage.bytes.capacity
        guard capacity >= Self.sizeClasses[0], capacity <= 2 * Self.sizeClasses.last!,
            freeBytes + capacity <= maxBytes, isKnownUniquelyReferenced(&storage),
            let index = Self.sizeClasses.lastIndex(where: { $0 <= capacity })
        else { return }
        freeBytes += capacity
        free[index].append(storage)
    }
}
