import CPlatform
import Dispatch

/// A long-running service's memory after a burst: glibc's malloc keeps a heap (arena) for
/// each thread that allocated, up to eight per core, and gives little of it back, so a
/// burst of handshakes on many threads (an attack, or a hundred laptops at once) would
/// leave the process that much larger for good. Two arenas, and the free memory handed
/// back to the kernel now and then, keep it where its present load puts it.
public enum ProcessMemory {
    /// How often free memory goes back: cheap (a walk of two small heaps), and soon
    /// enough after a burst.
    public static let returnInterval = 10.0

    /// Call once at start, before other threads allocate.
    public static func limitArenas(_ count: Int32 = 2) { usbp2p_limit_malloc_arenas(count) }

    public static func returnFree() { usbp2p_return_free_memory() }

    /// Returns free memory every `returnInterval` on `queue`, for as long as the timer is kept.
    public static func keepReturningFree(on queue: DispatchQueue = .main) -> any DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + returnInterval, repeating: returnInterval)
        timer.setEventHandler { returnFree() }
        timer.resume()
        return timer
    }
}
