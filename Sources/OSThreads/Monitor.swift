#if canImport(Glibc)
    import Glibc
#endif

/// A mutex with a condition variable, for state shared by a few plain threads that wait
/// for each other (a queue between a producer and a writer thread). Swift's `Mutex` has
/// no way to wait.
///
/// The pthread objects are allocated once and never move: Swift gives `&property` of a
/// class no stable address, and a mutex that moves is undefined behaviour.
public final class Monitor: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        mutex.initialize(to: pthread_mutex_t())
        condition.initialize(to: pthread_cond_t())
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        // Timed waits measure a monotonic clock, so a clock step cannot stretch them.
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits for a signal; call with the lock held (inside `withLock`). Returns after at
    /// most `seconds` when given; callers re-check their condition either way.
    public func wait(seconds: Double? = nil) {
        guard let seconds else {
            pthread_cond_wait(condition, mutex)
            return
        }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let total = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 + max(0, seconds)
        var deadline = timespec(tv_sec: Int(total), tv_nsec: Int((total - total.rounded(.down)) * 1e9))
        pthread_cond_timedwait(condition, mutex, &deadline)
    }

    /// Waits (with the lock held) until `done()` is true or the monotonic clock reaches
    /// `deadline`; returns `done()`.
    @discardableResult
    public func wait(until deadline: Double, unless done: () -> Bool) -> Bool {
        while !done() {
            let left = deadline - monotonicSeconds()
            if left <= 0 { return false }
            wait(seconds: left)
        }
        return true
    }

    /// Wakes every waiting thread.
    public func broadcast() { pthread_cond_broadcast(condition) }
}

/// Seconds on a monotonic clock, for timeouts and round-trip times.
public func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// The same clock at the kernel's last tick (a few milliseconds behind at most): read
/// from the vDSO without a system call whatever the clock source, where a fine reading
/// on a guest clocked by the HPET is a system call. For heartbeats, not for measuring.
public func coarseMonotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
