import FileSystem
import Sockets
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct AcceptLoopTests {
    @Test func aListenerOutOfDescriptorsServesOnWhenTheyComeBack() throws {
        // EMFILE twice, a connection, ENFILE, a connection, then the listener is shut down.
        var script: [Result<Socket, SystemError>] = [
            .failure(SystemError(call: "accept", errno: EMFILE)), .failure(SystemError(call: "accept", errno: EMFILE)),
            .success(Socket(descriptor: -1, peer: "first")), .failure(SystemError(call: "accept", errno: ENFILE)),
            .success(Socket(descriptor: -1, peer: "second")), .failure(SystemError(call: "accept", errno: EINVAL)),
        ]
        var served: [String] = []
        var failures: [Int32] = []
        var recoveries = 0
        AcceptLoop.run(
            accept: { () throws(SystemError) -> Socket in try script.removeFirst().get() },
            failing: { failures.append($0.errno) }, recovered: { recoveries += 1 },
            serve: { served.append($0.peer) })
        #expect(served == ["first", "second"])
        #expect(failures == [EMFILE, ENFILE])  // once per run of failures, not per retry
        #expect(recoveries == 2)
        #expect(script.isEmpty)
    }

    @Test func aShutDownListenerEndsTheLoop() throws {
        let listener = try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: 0))
        listener.socket.shutdown()
        var served = 0
        AcceptLoop.run(accept: listener.accept, failing: { _ in }, serve: { _ in served += 1 })
        #expect(served == 0)
    }
}
