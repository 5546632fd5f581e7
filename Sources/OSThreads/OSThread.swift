#if canImport(Glibc)
    import Glibc
#endif

/// A plain POSIX thread running one closure: for loops that must own a thread (the USB
/// event loop, blocking socket I/O), which Swift concurrency's pool is not for.
public final class OSThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void

    private init(body: @escaping @Sendable () -> Void) { self.body = body }

    /// Starts `body` on a new thread. Join it with `join()` or let it run detached.
    public static func start(_ body: @escaping @Sendable () -> Void) -> OSThread {
        let box = OSThread(body: body)
        let context = Unmanaged.passRetained(box).toOpaque()
        let rc = pthread_create(
            &box.thread, nil,
            { raw in
                let thread = Unmanaged<OSThread>.fromOpaque(raw!).takeRetainedValue()
                thread.body()
                return nil
            }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        return box
    }

    public func join() { pthread_join(thread, nil) }
}
