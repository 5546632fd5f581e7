import FileSystem
import OSThreads
import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// TCP hole punching by simultaneous open: both ends dial each other at the same moment,
/// each from the port its NAT has already mapped for the relay connection, so each NAT
/// sees an outgoing SYN before the peer's SYN comes in and lets it through. The kernel's
/// own SYN retransmissions cover a first SYN that reaches the other NAT too early; a
/// refused attempt is retried until the deadline.
///
/// One end (the server) also listens on its port while it punches: a SYN that arrives
/// before that end's own dial, or after a refused one, is accepted instead of reset, so
/// the other end's dial always completes once its SYN gets through. Only one end may
/// listen: a SYN caught by a listener becomes a half-open request that blocks this end's
/// own dial on the same address pair, and two such requests, one at each end, answer each
/// other with resets. Both ends dial one address pair and TCP allows one connection per
/// pair, so they meet in the same connection however it forms.
public enum HolePunch {
    /// Dials every target from `localPort` at once; with `listen`, accepts on that port
    /// meanwhile (from the targets' hosts only: pass false when a listener of the caller's
    /// already serves that port). The first connection wins and the rest are closed. Nil
    /// when none formed within `seconds`.
    public static func dial(
        _ targets: [Endpoint], fromPort localPort: UInt16, within seconds: Double, listen: Bool = false
    ) -> Socket? {
        guard !targets.isEmpty else { return nil }
        let deadline = monotonicSeconds() + seconds
        var attempts: [@Sendable () throws -> Socket] = targets.map { target in
            { try dialUntil(target, fromPort: localPort, deadline: deadline) }
        }
        let listener =
            listen
            ? try? TCP.Listener(
                endpoint: Endpoint(host: targets[0].host.contains(":") ? "::" : "0.0.0.0", port: localPort),
                sharedPort: true) : nil
        if let listener {
            let hosts = Set(targets.map(\.host))
            attempts.append { try acceptUntil(on: listener, from: hosts, deadline: deadline) }
        }
        defer { listener?.socket.shutdown() }
        return try? FirstOf.run(attempts, stagger: 0) { late in late.close() }
    }

    private static func dialUntil(_ target: Endpoint, fromPort localPort: UInt16, deadline: Double) throws -> Socket {
        var lastError: (any Error)?
        while monotonicSeconds() < deadline {
            let remaining = Int((deadline - monotonicSeconds()).rounded(.up))
            do {
                return try TCP.connect(to: target, timeoutSeconds: max(1, remaining), localPort: localPort)
            } catch {
                // Refused (the peer was not dialling yet) or the pair still in use: again soon.
                lastError = error
                usleep(100_000)
            }
        }
        throw lastError ?? SystemError(call: "connect", path: "\(target)", errno: ETIMEDOUT)
    }

    private static func acceptUntil(on listener: TCP.Listener, from hosts: Set<String>, deadline: Double) throws
        -> Socket
    {
        // Woken by the shutdown when the punch is over; by the deadline at the latest.
        try OSThread.detach(name: "punch-timer") {
            while monotonicSeconds() < deadline { usleep(50_000) }
            listener.socket.shutdown()
        }
        while true {
            let socket = try listener.accept()
            if let peer = Endpoint(parsing: socket.peer, defaultPort: 0), hosts.contains(peer.host) { return socket }
            socket.close()  // someone else found the port open meanwhile
        }
    }
}
