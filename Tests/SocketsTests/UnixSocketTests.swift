import FileSystem
import Sockets
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct UnixSocketTests {
    func path(_ name: String) -> String { "/tmp/usbp2p-unix-\(getpid())-\(name).sock" }

    @Test func aListenerAcceptsAndItsFileHasTheModeAsked() throws {
        let at = path("mode")
        defer { unlink(at) }
        let listener = try UnixSocket.listen(at: at, mode: 0o600)
        defer { listener.close() }
        #expect(try AtomicFile.attributes(at).mode == 0o600)
        let client = try UnixSocket.connect(to: at)
        let server = try UnixSocket.accept(on: listener)
        try client.writeAll(Array("ping\n".utf8))
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(try server.read(into: &buffer) == 5)
        client.close()
        server.close()
    }

    @Test func aSocketSomeoneListensOnIsNotTakenButAStaleOneIsReplaced() throws {
        let at = path("taken")
        defer { unlink(at) }
        let first = try UnixSocket.listen(at: at, mode: 0o600)
        #expect(throws: SystemError(call: "bind", path: at, errno: EADDRINUSE)) {
            try UnixSocket.listen(at: at, mode: 0o600)
        }
        // Closed without removing its file, as after a crash: the next listener replaces it.
        first.close()
        #expect(AtomicFile.isSocket(at))
        let second = try UnixSocket.listen(at: at, mode: 0o600)
        second.close()
    }

    @Test func aFileThatIsNotASocketIsLeftAlone() throws {
        let at = path("file")
        defer { unlink(at) }
        try AtomicFile.write(Array("keep".utf8), to: at, mode: 0o600)
        #expect(throws: SystemError(call: "bind", path: at, errno: EEXIST)) {
            try UnixSocket.listen(at: at, mode: 0o600)
        }
        #expect(try AtomicFile.read(at, maxSize: 16) == Array("keep".utf8))
    }
}
