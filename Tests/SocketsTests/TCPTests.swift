import FileSystem
import Foundation
import OSThreads
import Sockets
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Where the test's SIGUSR2 handler says it ran: a `Wakeup`'s eventfd (write(2) is
/// async-signal-safe), -1 when no test waits.
private let handlerRan = Atomic<Int32>(-1)

/// TCP.connect against listeners on loopback.
@Suite struct TCPTests {
    /// A listener whose accept queue is full (backlog 0, one connection not accepted):
    /// Linux drops the SYNs of any further connection, which then waits for an answer
    /// until the queue has room (its SYN is sent again 1 s, 3 s, ... later).
    func fullListener() throws -> (listener: TCP.Listener, queued: Socket) {
        let listener = try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: 0), backlog: 0)
        return (listener, try TCP.connect(to: listener.endpoint, timeoutSeconds: 5))
    }

    @Test func aConnectNobodyAnswersFailsWithATimeoutAtItsDeadline() throws {
        let (listener, queued) = try fullListener()
        defer { queued.close() }
        #expect(throws: SystemError(call: "connect", path: "\(listener.endpoint)", errno: ETIMEDOUT)) {
            _ = try TCP.connect(to: listener.endpoint, timeoutSeconds: 1)
        }
    }

    @Test func aSignalWhileConnectingDoesNotEndTheConnect() throws {
        // A handler without SA_RESTART, as a program's own handlers may be: the call the
        // thread waits in returns EINTR.
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            var one: UInt64 = 1
            let descriptor = handlerRan.load(ordering: .relaxed)
            if descriptor >= 0 { _ = withUnsafeBytes(of: &one) { write(descriptor, $0.baseAddress, 8) } }
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGUSR2, &action, nil)
        let (listener, queued) = try fullListener()
        defer { queued.close() }
        let waiter = Mutex<pthread_t?>(nil)
        let outcome = Mutex<Result<Socket, SystemError>?>(nil)
        let endpoint = listener.endpoint
        let connecting = try OSThread.start(name: "tcp-connecting") {
            // (A test runner's threads may block it; this one takes it.)
            var only = sigset_t()
            sigemptyset(&only)
            sigaddset(&only, SIGUSR2)
            pthread_sigmask(SIG_UNBLOCK, &only, nil)
            waiter.withLock { $0 = pthread_self() }
            let result = Result { () throws(SystemError) in try TCP.connect(to: endpoint, timeoutSeconds: 30) }
            outcome.withLock { $0 = result }
        }
        defer { connecting.join() }
        // The thread asleep in the kernel (state S in /proc) is in the connect.
        let until = Date().addingTimeInterval(20)
        var started: pthread_t?
        while Date() < until {
            if let known = waiter.withLock({ $0 }), Self.isAsleep(threadNamed: "tcp-connecting") {
                started = known
                break
            }
            usleep(2000)
        }
        let thread = try #require(started, "the connecting thread never waited in the kernel")
        let ran = try Wakeup()
        handlerRan.store(ran.descriptor, ordering: .relaxed)
        defer { handlerRan.store(-1, ordering: .relaxed) }
        pthread_kill(thread, SIGUSR2)
        var readiness = Readiness()
        try readiness.wait([.init(descriptor: ran.descriptor, read: true, write: false)], seconds: 20)
        #expect(readiness.events(at: 0).contains(.readable), "the signal was not handled")
        // Room in the queue: the connect's next SYN is answered.
        let accepted = try listener.accept()
        defer { accepted.close() }
        connecting.join()
        let connected = try #require(outcome.withLock { $0 }).get()
        connected.close()
    }

    /// Whether this process's thread named `name` sleeps in a system call (/proc's state S).
    static func isAsleep(threadNamed name: String) -> Bool {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for tid in tasks {
            guard let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8),
                comm.trimmingCharacters(in: .newlines) == name,
                let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
                let end = stat.lastIndex(of: ")")
            else { continue }
            return stat[stat.index(after: end)...].trimmingCharacters(in: .whitespaces).hasPrefix("S")
        }
        return false
    }
}
