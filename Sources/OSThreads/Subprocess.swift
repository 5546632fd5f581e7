import FileSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A program run to its end with posix_spawn, its output collected (bounded) and its
/// time limited: Foundation's Process would bring all of Foundation, and its ICU data,
/// into a binary that needs only this.
public enum Subprocess {
    public struct Result: Equatable, Sendable {
        public var status: Int32
        public var standardOutput: [UInt8]
        public var standardError: [UInt8]
        /// The program ran out of time and was stopped (SIGTERM, then SIGKILL).
        public var timedOut: Bool
    }

    /// Runs `path` with `arguments` (argv[1...]) and exactly `environment` ("KEY=value"),
    /// standard input from /dev/null, for at most `seconds`; keeps at most `limit` bytes of
    /// each output stream (the rest is read and dropped, so the program never blocks).
    /// The status is the exit code, or 128 + the signal that ended it.
    public static func run(
        _ path: String, arguments: [String], environment: [String], seconds: Double, limit: Int
    ) throws(SystemError) -> Result {
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        try systemCall("pipe") { pipe(&out) }
        do throws(SystemError) { try systemCall("pipe") { pipe(&err) } } catch {
            close(out[0])
            close(out[1])
            throw error
        }
        // Not inherited by other programs this process starts (the child gets its copies
        // through dup2, which clears the flag).
        for fd in out + err { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        // The program starts with no signal blocked and the usual dispositions, whatever
        // this process does with its own (a service ignores SIGTERM to handle it itself).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid = pid_t()
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        close(out[1])
        close(err[1])
        guard spawned == 0 else {
            close(out[0])
            close(err[0])
            throw SystemError(call: "posix_spawn", path: path, errno: spawned)
        }
        var collected: [[UInt8]] = [[], []]
        var open = [out[0], err[0]]
        var timedOut = false
        var killAt = monotonicSeconds() + seconds
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while open.contains(where: { $0 >= 0 }) {
            let left = killAt - monotonicSeconds()
            if left <= 0 {
                // Out of time: asked to stop, then (5 s later) made to.
                kill(pid, timedOut ? SIGKILL : SIGTERM)
                if timedOut {
                    break
                }
                timedOut = true
                killAt = monotonicSeconds() + 5
                continue
            }
            var polled = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&polled, nfds_t(polled.count), Int32(min(left, 1) * 1000) + 1)
            if ready < 0 && errno != EINTR { break }
            for index in polled.indices where polled[index].revents != 0 && open[index] >= 0 {
                let n = read(open[index], &buffer, buffer.count)
                if n > 0 {
                    let room = max(0, limit - collected[index].count)
                    collected[index] += buffer[0..<min(n, room)]
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    close(open[index])
                    open[index] = -1
                }
            }
        }
        for fd in open where fd >= 0 { close(fd) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        let code = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: code, standardOutput: collected[0], standardError: collected[1], timedOut: timedOut)
    }
}
