import ClientControl
import OSThreads
import Sockets
import Testing

@Suite struct ServiceChannelTests {
    @Test func aRequestAndAReplyCrossIntact() throws {
        let (cli, service) = try Socket.pair()
        let request = ServiceRequest("attach", ["Living room Pi", "SanDisk Ultra", "046d:c31c"])
        try ServiceChannel.send(request, over: cli)
        #expect(try ServiceChannel.receive(ServiceRequest.self, from: service) == request)
        let reply = ServiceReply(status: 0, standardOutput: "attached 1-1.2\n", standardError: "")
        try ServiceChannel.send(reply, over: service)
        #expect(try ServiceChannel.receive(ServiceReply.self, from: cli) == reply)
    }

    @Test func garbageATruncatedLineAndAnOverlongOneAreRefusedWithWhy() throws {
        func receiving(_ bytes: [UInt8]) throws -> ServiceChannelError? {
            let (a, b) = try Socket.pair()
            // Written on a thread of its own: more than a socket buffer holds waits for the reader.
            let writer = try OSThread.start(name: "test-writer") {
                try? a.writeAll(bytes)
                a.shutdown()
            }
            defer {
                b.close()
                writer.join()
            }
            do {
                _ = try ServiceChannel.receive(ServiceRequest.self, from: b)
                return nil
            } catch { return error }
        }
        #expect(try receiving(Array("{\"command\":\"fly\"}\n".utf8)).map { "\($0)" }?.contains("not a message") == true)
        #expect(try receiving(Array("{\"command\":\"status\"".utf8)) == .closed)
        #expect(try receiving(Array("{}\n{}\n".utf8)) == .malformed("bytes after the message"))
        #expect(try receiving([UInt8](repeating: 0x41, count: ServiceChannel.maxMessage + 1)) == .tooLong)
    }
}
