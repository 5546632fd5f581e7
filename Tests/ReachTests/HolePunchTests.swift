import OSThreads
import Reach
import Sockets
import Testing

@Suite struct HolePunchTests {
    /// A port of this machine's, taken by a connection that leaves from it (as the relay
    /// connection holds its port in the product), shared so that punching can use it too.
    static func heldPort(to listener: TCP.Listener) throws -> (Socket, Socket, UInt16) {
        let held = try TCP.connect(to: listener.endpoint, localPort: 0)
        let accepted = try listener.accept()
        return (held, accepted, TCP.localEndpoint(of: held)!.port)
    }

    /// On loopback nothing drops an early SYN, the other end resets it: the listening end
    /// (the server's role) takes it instead, whichever end dials first.
    @Test func bothEndsDiallingEachOtherFromTheirHeldPortsMeetInOneConnection() throws {
        let relay = try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: 0))
        let (a, aRelay, portA) = try Self.heldPort(to: relay)
        let (b, bRelay, portB) = try Self.heldPort(to: relay)
        final class Box: @unchecked Sendable { var socket: Socket? }
        let fromB = Box()
        let other = try OSThread.start(name: "test-other") {
            fromB.socket = HolePunch.dial(
                [Endpoint(host: "127.0.0.1", port: portA)], fromPort: portB, within: 5, listen: true)
        }
        let fromA = HolePunch.dial([Endpoint(host: "127.0.0.1", port: portB)], fromPort: portA, within: 5)
        other.join()
        let one = try #require(fromA)
        let two = try #require(fromB.socket)
        try one.writeAll(Array("through the punched hole".utf8))
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = try two.read(into: &buffer)
        #expect(String(decoding: buffer[0..<n], as: UTF8.self) == "through the punched hole")
        // The relay connections that hold the ports are still there.
        try a.writeAll([1])
        #expect(try aRelay.read(into: &buffer) == 1)
        try b.writeAll([2])
        #expect(try bRelay.read(into: &buffer) == 1)
    }

    @Test func nobodyAnsweringEndsAtTheDeadline() throws {
        let relay = try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: 0))
        let (_, _, port) = try Self.heldPort(to: relay)
        let (_, _, silent) = try Self.heldPort(to: relay)  // held, never dialling back: refused
        let started = monotonicSeconds()
        #expect(HolePunch.dial([Endpoint(host: "127.0.0.1", port: silent)], fromPort: port, within: 1) == nil)
        #expect(monotonicSeconds() - started < 4)
    }
}
