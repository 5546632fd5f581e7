import OSThreads
import Synchronization
import Testing

@Suite struct OSThreadTests {
    @Test func aJoinedThreadHasFinishedItsWork() throws {
        let box = Flag()
        let thread = try OSThread.start(name: "test-join") { box.set() }
        thread.join()
        #expect(box.isSet)
    }

    @Test func aDetachedThreadRunsToTheEnd() throws {
        let box = Flag()
        try OSThread.detach(name: "test-detach") { box.set() }
        box.wait()
        #expect(box.isSet)
    }

    @Test func aHandleDroppedWithoutJoinLeavesNoThreadBehind() throws {
        // Each dropped handle detaches its thread; a thousand of them must not exhaust
        // anything (joinable threads left unjoined keep their stacks until that happens).
        for _ in 0..<1000 {
            let box = Flag()
            _ = try OSThread.start(name: "test-drop") { box.set() }
            box.wait()
        }
    }

    @Test func theStartErrorNamesTheThreadAndTheReason() {
        let error = ThreadStartError(name: "relay-conn", errno: 11)
        #expect(error.description.contains("relay-conn"))
        #expect(error.description.contains("Resource temporarily unavailable"))
    }
}

/// A flag one thread sets and another waits for.
private final class Flag: Sendable {
    private let monitor = Monitor()
    private let value = Mutex<Bool>(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() {
        monitor.withLock {
            value.withLock { $0 = true }
            monitor.broadcast()
        }
    }
    func wait() {
        monitor.withLock { _ = monitor.wait(until: monotonicSeconds() + 30) { isSet } }
    }
}
