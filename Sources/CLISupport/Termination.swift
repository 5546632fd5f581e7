import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `stop` on the main queue at SIGTERM (systemd) or SIGINT (Ctrl-C), then exits 0.
/// The programs' long-running commands end with `dispatchMain()` after calling this.
public func onTerminationSignal(_ stop: @escaping @Sendable (Int32) -> Void) {
    for signalNumber in [SIGTERM, SIGINT] {
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .main)
        source.setEventHandler {
            stop(signalNumber)
            Glibc.exit(0)  // (plain `exit` is ParsableCommand.exit in the commands)
        }
        source.resume()
        SignalSources.keep(source)
    }
}

/// Keeps the signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []
    static func keep(_ source: any DispatchSourceSignal) { sources.append(source) }
}
