import FileSystem

#if canImport(Glibc)
    import Glibc
#endif

/// The accept loop every listener runs: a listener that runs out of descriptors or memory
/// for a moment (EMFILE, ENFILE, ENOBUFS, a connection reset before it was taken) pauses and
/// serves on, rather than stopping for good while the rest of the process looks healthy.
/// It ends only when the listener itself is gone (shut down or closed by its owner).
public enum AcceptLoop {
    /// The first pause after a failed accept; it doubles while the failures go on.
    static let firstPauseMicroseconds: UInt32 = 10_000
    /// The longest pause: a listener out of descriptors tries again at least this often.
    static let longestPauseMicroseconds: UInt32 = 1_000_000

    /// Whether an accept error means the listener is gone rather than a passing shortage.
    public static func isFinal(_ error: SystemError) -> Bool {
        error.errno == EINVAL || error.errno == EBADF || error.errno == ENOTSOCK
    }

    /// Accepts and hands each connection to `serve` until the listener is gone.
    /// `failing` is told of the first error of each run of failures (not of every retry),
    /// and `recovered` when accepting works again after one; so is `watch`, under `name`.
    public static func run(
        name: String = "listener", watch: ListenerWatch? = nil, accept: () throws(SystemError) -> Socket,
        failing: (SystemError) -> Void, recovered: () -> Void = {}, serve: (Socket) -> Void
    ) {
        var pause = firstPauseMicroseconds
        var inFailure = false
        while true {
            let socket: Socket
            do throws(SystemError) {
                socket = try accept()
            } catch {
                if isFinal(error) { return }
                if !inFailure {
                    failing(error)
                    watch?.failing(name, error)
                }
                inFailure = true
                usleep(pause)  // a back-off in production code, not a wait in a test
                pause = min(pause * 2, longestPauseMicroseconds)
                continue
            }
            if inFailure {
                recovered()
                watch?.recovered(name)
            }
            inFailure = false
            pause = firstPauseMicroseconds
            serve(socket)
        }
    }
}
