import Log
import OSThreads

/// Shows an `LEDPattern` on an output line, from a thread of its own, until stopped
/// (the LED is then left dark).
public final class StatusLED: @unchecked Sendable {
    private let line: GPIOLine
    private let logger: Logger
    private let monitor = Monitor()
    private var pattern: LEDPattern
    private var since = monotonicSeconds()
    private var stopped = false
    private var thread: OSThread?

    public init(line: GPIOLine, initial: LEDPattern, logger: Logger) {
        self.line = line
        self.pattern = initial
        self.logger = logger
    }

    public func start() {
        do { thread = try OSThread.start(name: "status-led") { [self] in run() } } catch {
            logger.error("status LED: \(error)")
        }
    }

    /// Switches to `next` (from its beginning, so a change is seen at once).
    public func show(_ next: LEDPattern) {
        monitor.withLock {
            guard next != pattern else { return }
            pattern = next
            since = monotonicSeconds()
        }
        monitor.broadcast()
    }

    public var current: LEDPattern { monitor.withLock { pattern } }

    public func stop() {
        monitor.withLock { stopped = true }
        monitor.broadcast()
        thread?.join()
        try? line.set(false)
    }

    private func run() {
        var failed = false
        monitor.withLock {
            while !stopped {
                let shown = pattern
                let elapsed = Int((monotonicSeconds() - since) * 1000)
                do throws(GPIOError) {
                    try line.set(shown.isLit(at: elapsed))
                    failed = false
                } catch {
                    if !failed { logger.warning("status LED: \(error)") }
                    failed = true
                }
                let wake = monotonicSeconds() + Double(shown.millisecondsUntilChange(after: elapsed)) / 1000
                monitor.wait(until: wake) { stopped || pattern != shown }
            }
        }
    }
}

/// Watches a button line from a thread of its own and reports gestures.
public final class ButtonWatcher: @unchecked Sendable {
    private let line: GPIOLine
    private let logger: Logger
    private var gestures: ButtonGestures
    private let handler: @Sendable (ButtonGestures.Gesture) -> Void
    private let monitor = Monitor()
    private var stopped = false
    private var thread: OSThread?

    public init(
        line: GPIOLine, gestures: ButtonGestures, logger: Logger,
        handler: @escaping @Sendable (ButtonGestures.Gesture) -> Void
    ) {
        self.line = line
        self.gestures = gestures
        self.logger = logger
        self.handler = handler
    }

    public func start() {
        do { thread = try OSThread.start(name: "button") { [self] in run() } } catch {
            logger.error("button: \(error)")
        }
    }

    public func stop() {
        monitor.withLock { stopped = true }
        thread?.join()
    }

    private var isStopped: Bool { monitor.withLock { stopped } }

    private func run() {
        while !isStopped {
            let now = monotonicSeconds()
            // Short waits while a level settles or a press is held; else a quarter second
            // (so stop() is seen soon).
            let wait = min(0.25, max(0.005, (gestures.nextDeadline(after: now) ?? .infinity) - now))
            let edges: [GPIOLine.Edge]
            do throws(GPIOError) { edges = try line.waitForEdges(seconds: wait) } catch {
                logger.warning("button: \(error); watching stops")
                return
            }
            var out: [ButtonGestures.Gesture] = []
            for edge in edges { out += gestures.edge(active: edge.active, at: edge.seconds) }
            out += gestures.tick(at: monotonicSeconds())
            for gesture in out { handler(gesture) }
        }
    }
}
