import FileSystem
import Sockets
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct ListenerWatchTests {
    final class Clock: Sendable {
        let now = Mutex<Double>(1000)
        func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
    }

    @Test func aShortShortageIsNotALoss() {
        let clock = Clock()
        let watch = ListenerWatch(patience: 60) { clock.now.withLock { $0 } }
        watch.failing("session listener", SystemError(call: "accept", errno: EMFILE))
        clock.advance(59)
        #expect(watch.lost().isEmpty)
        watch.recovered("session listener")
        clock.advance(600)
        #expect(watch.lost().isEmpty)
    }

    @Test func aListenerFailingWithoutABreakForThePatienceIsLostWithItsError() {
        let clock = Clock()
        let watch = ListenerWatch(patience: 60) { clock.now.withLock { $0 } }
        watch.failing("session listener", SystemError(call: "accept", errno: EMFILE))
        clock.advance(30)
        // Later errors of the same run do not restart the count.
        watch.failing("session listener", SystemError(call: "accept", errno: ENFILE))
        clock.advance(30)
        let lost = watch.lost()
        #expect(lost.count == 1)
        #expect(lost.first?.hasPrefix("session listener: accept has failed for 60 s") == true)
        #expect(lost.first?.contains("\(SystemError(call: "accept", errno: EMFILE))") == true)
    }

    @Test func aListenerWhoseThreadCouldNotStartIsLostAtOnce() {
        let watch = ListenerWatch(patience: 60) { 5 }
        watch.notServed("control socket /run/usbp2pd/control", "no thread")
        #expect(watch.lost() == ["control socket /run/usbp2pd/control: not served (no thread)"])
    }

    @Test func theAcceptLoopReportsItsFailuresAndRecoveryToTheWatch() {
        let clock = Clock()
        let watch = ListenerWatch(patience: 10) { clock.now.withLock { $0 } }
        var script: [Result<Socket, SystemError>] = [
            .failure(SystemError(call: "accept", errno: EMFILE)), .failure(SystemError(call: "accept", errno: EINVAL)),
        ]
        AcceptLoop.run(
            name: "USB/IP listener", watch: watch,
            accept: { () throws(SystemError) -> Socket in try script.removeFirst().get() }, failing: { _ in },
            serve: { _ in })
        clock.advance(10)
        #expect(watch.lost().count == 1)  // the loop ended still failing
        script = [
            .failure(SystemError(call: "accept", errno: EMFILE)), .success(Socket(descriptor: -1, peer: "a")),
            .failure(SystemError(call: "accept", errno: EINVAL)),
        ]
        AcceptLoop.run(
            name: "USB/IP listener", watch: watch,
            accept: { () throws(SystemError) -> Socket in try script.removeFirst().get() }, failing: { _ in },
            serve: { _ in })
        #expect(watch.lost().isEmpty)
    }
}
