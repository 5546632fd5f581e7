/// Which channel's frame the writer sends next.
///
/// The channels take turns, so no device starves another. A channel with only a little
/// queued (a keyboard's report, a control transfer's reply, a resubmitted interrupt URB)
/// goes before those with a backlog (a stick's 120 KiB reply): its frame then waits
/// behind at most the write under way, not behind a turn of every bulk channel. This is
/// fq_codel's "sparse flow" idea (RFC 8290, section 4.1). So that a channel which only
/// ever queues a little, but all the time, cannot starve the others, a backlogged
/// channel gets its turn after at most `sparseRunLimit` bytes of sparse frames.
struct ChannelScheduler {
    /// A channel with at most this many bytes queued is sparse.
    static let sparseBytes = 2048
    /// Sparse frames sent in a row while a backlogged channel waits, at most (bytes).
    static let sparseRunLimit = 64 * 1024

    /// The last channel served, where the next turn starts after.
    private(set) var lastServed: UInt16 = 0
    /// Sparse bytes sent since a backlogged channel last had its turn.
    private var sparseRun = 0

    /// A channel that may send now: its id, the bytes it has queued, and the payload
    /// bytes of the frame it would send.
    struct Ready {
        var id: UInt16
        var queuedBytes: Int
        var frameBytes: Int
    }

    /// The channel to serve next among `ready` (nil if it is empty), recorded as served.
    /// One pass, no allocation.
    mutating func next(among ready: some Sequence<Ready>) -> UInt16? {
        var sparse: (channel: Ready, distance: Int)?
        var backlogged: (channel: Ready, distance: Int)?
        for channel in ready {
            // Turn order: the first id after the last one served, wrapping around.
            let distance = Int(channel.id &- lastServed &- 1)
            if channel.queuedBytes <= Self.sparseBytes {
                if distance < sparse?.distance ?? .max { sparse = (channel, distance) }
            } else if distance < backlogged?.distance ?? .max {
                backlogged = (channel, distance)
            }
        }
        let chosen: UInt16
        if let sparse, backlogged == nil || sparseRun < Self.sparseRunLimit {
            chosen = sparse.channel.id
            sparseRun = backlogged == nil ? 0 : sparseRun + sparse.channel.frameBytes
        } else if let backlogged {
            chosen = backlogged.channel.id
            sparseRun = 0
        } else {
            return nil
        }
        lastServed = chosen
        return chosen
    }
}
