import ByteBuffers
import OSThreads
import Sockets
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Written by one thread before it is joined, read after.
private final class Flag: @unchecked Sendable { var value = false }

@Suite struct ReadinessTests {
    private func interest(_ socket: Socket, read: Bool = true, write: Bool = false) -> Readiness.Interest {
        Readiness.Interest(descriptor: socket.descriptor, read: read, write: write)
    }

    @Test func aWaitEndsWhenOneSocketHasBytesAndSaysWhichOne() throws {
        let (quietHere, _quietThere) = try Socket.pair()
        let (busyHere, busyThere) = try Socket.pair()
        try busyThere.writeAll([1, 2, 3])
        var readiness = Readiness()
        try readiness.wait([interest(quietHere), interest(busyHere)], seconds: nil)
        #expect(readiness.events(at: 0).isEmpty)
        #expect(readiness.events(at: 1) == .readable)
        #expect(readiness.events(at: 2).isEmpty)  // beyond what was asked
        _ = _quietThere
    }

    @Test func aSignalGivenBeforeTheWaitIsNotLostAndDrainClearsIt() throws {
        let wakeup = try Wakeup()
        wakeup.signal()
        wakeup.signal()
        let asked = [Readiness.Interest(descriptor: wakeup.descriptor, read: true, write: false)]
        var readiness = Readiness()
        try readiness.wait(asked, seconds: nil)
        #expect(readiness.events(at: 0) == .readable)
        wakeup.drain()
        try readiness.wait(asked, seconds: 0)
        #expect(readiness.events(at: 0).isEmpty)
    }

    @Test func aSignalFromAnotherThreadEndsAWaitWithoutDeadline() throws {
        let wakeup = try Wakeup()
        let (here, _there) = try Socket.pair()
        let woken = Flag()
        let waiter = try OSThread.start(name: "waiter") {
            var readiness = Readiness()
            let asked = [
                Readiness.Interest(descriptor: here.descriptor, read: true, write: false),
                Readiness.Interest(descriptor: wakeup.descriptor, read: true, write: false),
            ]
            try? readiness.wait(asked, seconds: nil)
            woken.value = readiness.events(at: 1) == .readable
        }
        wakeup.signal()
        waiter.join()  // (which orders the waiter's write before this read)
        #expect(woken.value)
        _ = _there
    }

    @Test func signalsDuringATimedWaitDoNotStartItsTimeAgain() throws {
        // A handler without SA_RESTART, as a program's own may be: poll returns EINTR.
        // SIGUSR1 is this test's alone (TCPTests has SIGUSR2).
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGUSR1, &action, nil)
        let (quiet, _other) = try Socket.pair()
        let waiter = Mutex<pthread_t?>(nil)
        let ended = Atomic<Bool>(false)
        let waiting = try OSThread.start(name: "timed-waiter") {
            var only = sigset_t()
            sigemptyset(&only)
            sigaddset(&only, SIGUSR1)
            pthread_sigmask(SIG_UNBLOCK, &only, nil)  // (a test runner's threads may block it)
            waiter.withLock { $0 = pthread_self() }
            var readiness = Readiness()
            try? readiness.wait(
                [Readiness.Interest(descriptor: quiet.descriptor, read: true, write: false)], seconds: 0.3)
            ended.store(true, ordering: .releasing)
        }
        // Interrupted every 20 ms: a wait that took its whole 0.3 s again after each
        // interruption would not end while they go on (here: up to 30 s).
        let giveUp = monotonicSeconds() + 30
        while !ended.load(ordering: .acquiring), monotonicSeconds() < giveUp {
            if let thread = waiter.withLock({ $0 }) { pthread_kill(thread, SIGUSR1) }
            usleep(20_000)
        }
        let endedUnderSignals = ended.load(ordering: .acquiring)
        waiting.join()
        #expect(endedUnderSignals)
        _ = _other
    }

    @Test func slicesSentTogetherArriveInOrderAndAFullSocketTakesOnlyTheirFront() throws {
        let (here, there) = try Socket.pair()
        let whole: [UInt8] = Array(0..<200).map { UInt8($0) }
        let parts = [whole[0..<10], whole[10..<11], whole[11..<200]]
        #expect(try here.sendNow(slices: parts) == 200)
        var buffer = [UInt8](repeating: 0, count: 256)
        var received: [UInt8] = []
        while received.count < 200 { received += buffer[0..<(try there.read(into: &buffer))] }
        #expect(received == whole)
        // Filled up: it never blocks, and a full socket takes nothing (0).
        let chunk = [UInt8](repeating: 7, count: 64 * 1024)
        var taken = 0
        while true {
            let n = try here.sendNow(slices: [chunk[...], chunk[...]])
            if n == 0 { break }
            taken += n
        }
        #expect(taken > 0)
        #expect(try here.sendNow(slices: [chunk[0..<1]]) == 0)
    }

    @Test func aFullSocketIsNotWritableAndWriteSomeTakesNothingUntilThePeerReads() throws {
        let (here, there) = try Socket.pair()
        try here.setNonBlocking()
        let chunk = [UInt8](repeating: 7, count: 64 * 1024)
        var written = 0
        while true {
            let n = try here.writeSome(chunk, from: 0)
            if n == 0 { break }
            written += n
        }
        var readiness = Readiness()
        try readiness.wait([interest(here, read: false, write: true)], seconds: 0)
        #expect(!readiness.events(at: 0).contains(.writable))
        // Read everything: room again, and every byte arrives.
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var read = 0
        while read < written { read += try there.read(into: &buffer) }
        #expect(read == written)
        try readiness.wait([interest(here, read: false, write: true)], seconds: nil)
        #expect(readiness.events(at: 0).contains(.writable))
        #expect(try here.writeSome(chunk, from: chunk.count - 10) == 10)
    }

    @Test func readSomeSaysNothingIsThereThenThatThePeerClosed() throws {
        let (here, there) = try Socket.pair()
        try here.setNonBlocking()
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(try here.readSome(into: &buffer) == nil)
        try there.writeAll([9, 8])
        #expect(try here.readSome(into: &buffer) == 2)
        #expect(Array(buffer[0..<2]) == [9, 8])
        there.close()
        var readiness = Readiness()
        try readiness.wait([interest(here)], seconds: nil)
        #expect(readiness.events(at: 0).contains(.readable))
        #expect(try here.readSome(into: &buffer) == 0)
    }

    @Test func writeSomeFromTheEndWritesNothing() throws {
        let (here, _there) = try Socket.pair()
        #expect(try here.writeSome([1, 2, 3], from: 3) == 0)
        _ = _there
    }

    @Test func aGatheredSendDeliversEveryPartInOrderAsOneStream() throws {
        let (here, there) = try Socket.pair()
        let data = (0..<(64 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let parts: [ArraySlice<UInt8>] = [Array(repeating: 1, count: 48)[...], [], data[100...], [9, 8, 7]]
        let whole = parts.flatMap { $0 }
        #expect(try here.sendNow(parts: parts) == whole.count)
        here.shutdown()
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while case let n = try there.read(into: &buffer), n > 0 { received += buffer[0..<n] }
        #expect(received == whole)
    }

    @Test func aGatheredSendWithATailFromAFixedBlockDeliversItAfterTheParts() throws {
        let (here, there) = try Socket.pair()
        let block = FixedBytes(copying: (0..<(64 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        let tail = block.slice(5..<(60 * 1024))
        let header = [UInt8](repeating: 3, count: 48)
        #expect(try here.sendNow(parts: [header[...]], then: tail) == 48 + tail.count)
        here.shutdown()
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while case let n = try there.read(into: &buffer), n > 0 { received += buffer[0..<n] }
        #expect(received == header + Array(tail))
    }

    @Test func readingUpToACountFillsTheStartOfTheBufferLeavesTheRestAndSaysNilWhenNothingOrNoRoom() throws {
        let (here, there) = try Socket.pair()
        try there.setNonBlocking()
        var buffer = [UInt8](repeating: 0xee, count: 8)
        #expect(try there.readSome(into: &buffer, upTo: 4096) == nil)
        try here.writeAll([UInt8](1...10))
        #expect(try there.readSome(into: &buffer, upTo: 0) == nil)  // asks for nothing, takes nothing
        #expect(try there.readSome(into: &buffer, upTo: 4) == 4)
        #expect(buffer == [1, 2, 3, 4, 0xee, 0xee, 0xee, 0xee])
        #expect(try there.readSome(into: &buffer, upTo: 4096) == 6)  // no more than the buffer holds
        #expect(buffer == [5, 6, 7, 8, 9, 10, 0xee, 0xee])
        here.shutdown()
        #expect(try there.readSome(into: &buffer, upTo: 4096) == 0)
        var empty: [UInt8] = []
        #expect(try there.readSome(into: &empty, upTo: 4096) == nil)
    }

    @Test func aGatheredSendToAFullSocketTakesNothingAndDoesNotBlock() throws {
        let (here, _there) = try Socket.pair()
        let chunk = [UInt8](repeating: 7, count: 64 * 1024)
        while try here.writeSome(chunk, from: 0) > 0 {}
        #expect(try here.sendNow(parts: [chunk[0..<48], chunk[48...]]) == 0)
        _ = _there
    }
}
