import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `stop` on the main queue at SIGTERM (systemd) or SIGINT (Ctrl-C), then exits 0.
/// The programs' long-running commands end with `dispatchMain()` after calling this.
///
/// No signal is lost, however soon after this call it comes: the handlers are in place
/// when this returns and only write the signal's number into a pipe, which the main queue
/// reads. (A dispatch signal source asks for SIG_IGN until libdispatch registers it on its
/// own thread, later: a SIGTERM in between was discarded, and a test that stopped a
/// usbp2pd right after it started waited for ever.)
public func onTerminationSignal(_ stop: @escaping @Sendable (Int32) -> Void) {
    var ends: [Int32] = [-1, -1]
    guard pipe(&ends) == 0 else {
        // No pipe (out of descriptors at start): the signals keep their default action,
        // which ends the program without the orderly stop.
        return
    }
    for end in ends {
        _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
    }
    let readEnd = ends[0]
    TerminationPipe.writeEnd = ends[1]
    let source = DispatchSource.makeReadSource(fileDescriptor: readEnd, queue: .main)
    source.setEventHandler {
        var signalNumber: UInt8 = 0
        guard read(readEnd, &signalNumber, 1) == 1 else { return }
        stop(Int32(signalNumber))
        Glibc.exit(0)  // (plain `exit` is ParsableCommand.exit in the commands)
    }
    source.resume()
    TerminationPipe.source = source
    for signalNumber in [SIGTERM, SIGINT] {
        // Async-signal-safe: one write(2) of one byte.
        signal(signalNumber) { received in
            var byte = UInt8(truncatingIfNeeded: received)
            _ = write(TerminationPipe.writeEnd, &byte, 1)
        }
    }
}

/// The pipe the signal handlers write into, and its read source, for the life of the process.
enum TerminationPipe {
    nonisolated(unsafe) static var writeEnd: Int32 = -1
    nonisolated(unsafe) static var source: (any DispatchSourceRead)?
}
