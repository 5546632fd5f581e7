import CPlatform

#if canImport(Glibc)
    import Glibc
#endif

/// A plain POSIX thread running one closure: for loops that must own a thread (the USB
/// event loop, blocking socket I/O), which Swift concurrency's pool is not for.
///
/// Every thread is either joined by its owner (`start`, then `join`) or detached from
/// the start (`detach`): a thread whose handle is dropped without `join` is detached
/// then, so no thread's stack outlives it. Creating a thread can fail (the process's or
/// the unit's task limit, memory): that is thrown, for the caller to refuse that one piece
/// of work, never a trap.
public final class OSThread: @unchecked Sendable {
    private var thread = pthread_t()
    /// Set once joined or detached: nothing is left to release.
    private var released = false
    private let name: String
    private let body: @Sendable () -> Void

    private init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }

    /// Starts `body` on a new thread named `name` (at most 15 bytes are kept). The owner
    /// joins it with `join()`.
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(ThreadStartError)
        -> OSThread
    {
        let box = OSThread(name: name, body: body)
        let context = Unmanaged.passRetained(box).toOpaque()
        var created = pthread_t()
        let rc = pthread_create(
            &created, nil,
            { raw in
                let thread = Unmanaged<OSThread>.fromOpaque(raw!).takeRetainedValue()
                usbp2p_name_current_thread(thread.name)
                thread.body()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<OSThread>.fromOpaque(context).release()
            throw ThreadStartError(name: name, errno: rc)
        }
        box.thread = created
        return box
    }

    /// Starts `body` on a new thread that nobody joins: its resources go when it returns.
    public static func detach(name: String, _ body: @escaping @Sendable () -> Void) throws(ThreadStartError) {
        let thread = try start(name: name, body)
        pthread_detach(thread.thread)
        thread.released = true
    }

    /// Whether this is the thread running now (a thread must not join itself).
    public var isCurrent: Bool { pthread_equal(thread, pthread_self()) != 0 }

    /// Waits for the thread to return. Called once, by its owner, never from the thread itself.
    public func join() {
        guard !released else { return }
        released = true
        pthread_join(thread, nil)
    }

    deinit {
        // The owner let go without joining (or the thread outlived its owner's handle and
        // this runs on the thread itself): detach so the stack is freed when it returns.
        if !released { pthread_detach(thread) }
    }
}

/// A thread could not be created.
public struct ThreadStartError: Error, Equatable, CustomStringConvertible {
    public let name: String
    public let errno: Int32

    public init(name: String, errno: Int32) {
        self.name = name
        self.errno = errno
    }

    public var description: String { "cannot start thread \(name): \(String(cString: strerror(errno)))" }
}
