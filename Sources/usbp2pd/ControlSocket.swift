import FileSystem
import Log
import OSThreads
import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// usbp2pd's control socket (control.socket, mode 0600: only the service's own user and
/// root): one request line, one answer line ("ok ..." or "error ..."), then it closes.
///
///   pair-open SECONDS    open the pairing window
///   pair-close           close it
///   status               what the service is doing
///   report               the status page's report, as JSON (usbp2pd ui)
///   share DEVICE [ID...] share a device with everyone paired, or with these laptops
///   unshare DEVICE       only the owner uses it
///   owner ID             make another paired laptop the owner
///   fault usb-stall      stop the USB thread (only with USBP2PD_FAULT_INJECTION=1, for tests)
final class ControlSocket: @unchecked Sendable {
    private let listener: Socket
    private let path: String
    private let logger: Logger
    private let handle: @Sendable ([String]) -> String

    /// A request with a few EndpointIds (share DEVICE ID...) fits.
    static let maxLine = 1024

    init(path: String, logger: Logger, handle: @escaping @Sendable ([String]) -> String) throws(SystemError) {
        let directory = AtomicFile.parentDirectory(of: path)
        if !AtomicFile.isDirectory(directory) { try AtomicFile.createDirectory(directory, mode: 0o755) }
        listener = try UnixSocket.listen(at: path, mode: 0o600)
        self.path = path
        self.logger = logger
        self.handle = handle
    }

    /// Serves requests; `watch` learns whether the socket can be kept.
    func start(watch: ListenerWatch? = nil) {
        do {
            try OSThread.detach(name: "control") { [self] in
                AcceptLoop.run(
                    name: "control socket \(path)", watch: watch,
                    accept: { () throws(SystemError) in try UnixSocket.accept(on: listener) },
                    failing: { logger.warning("control socket: accept: \($0); trying again") }, serve: answer)
            }
        } catch {
            logger.error("control socket: not served: \(error)")
            watch?.notServed("control socket \(path)", "\(error)")
        }
    }

    /// The file goes first (a service started meanwhile binds its own there).
    func stop() {
        unlink(path)
        listener.shutdown()
    }

    private func answer(_ client: Socket) {
        defer { client.close() }
        client.setReceiveTimeout(seconds: 2)
        var line: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while !line.contains(10) {
            guard let n = try? client.read(into: &buffer), n > 0 else { break }
            line += buffer[0..<n]
            guard line.count <= Self.maxLine else {
                try? client.writeAll(Array("error request too long\n".utf8))
                return
            }
        }
        let text = String(decoding: line.prefix { $0 != 10 }, as: UTF8.self)
        let words = text.split(separator: " ").map(String.init)
        let reply = words.isEmpty ? "error empty request" : handle(words)
        try? client.writeAll(Array((reply + "\n").utf8))
    }

    /// Sends one request to the service at `path` and returns its answer line.
    static func request(_ line: String, at path: String) throws(SystemError) -> String {
        let socket = try UnixSocket.connect(to: path)
        defer { socket.close() }
        socket.setReceiveTimeout(seconds: 5)
        try socket.writeAll(Array((line + "\n").utf8))
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        // (A report is a few KiB; more than this is not an answer of ours.)
        while reply.count < 1 << 20, let n = try? socket.read(into: &buffer), n > 0 { reply += buffer[0..<n] }
        return String(decoding: reply, as: UTF8.self).trimmingTrailingNewlines
    }
}

extension String {
    var trimmingTrailingNewlines: String {
        var s = self
        while s.last?.isNewline == true { s.removeLast() }
        return s
    }
}
