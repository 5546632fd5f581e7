import FileSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A connected stream socket (TCP or Unix), owned: closed when the last reference goes.
/// Reads and writes block; each is retried on EINTR and throws `SystemError` otherwise.
public final class Socket: @unchecked Sendable {
    /// The descriptor; valid until `close()`.
    public let descriptor: Int32
    private let closed = Atomic<Bool>(false)
    /// Shown in logs: the peer's address.
    public let peer: String

    public init(descriptor: Int32, peer: String) {
        self.descriptor = descriptor
        self.peer = peer
    }

    /// Reads up to `buffer.count` bytes; 0 means the peer closed.
    public func read(into buffer: inout [UInt8]) throws(SystemError) -> Int {
        try read(into: &buffer, from: 0)
    }

    /// Reads up to `buffer.count - offset` bytes into `buffer[offset...]`; 0 means the
    /// peer closed (or no room).
    public func read(into buffer: inout [UInt8], from offset: Int) throws(SystemError) -> Int {
        try read(into: &buffer, from: offset, atMost: Int.max)
    }

    /// Reads up to `atMost` bytes into `buffer[offset...]` (a message's header alone, when
    /// what follows it goes elsewhere); 0 means the peer closed (or no room).
    public func read(into buffer: inout [UInt8], from offset: Int, atMost: Int) throws(SystemError) -> Int {
        guard offset >= 0, offset < buffer.count, atMost > 0 else { return 0 }
        let count = min(atMost, buffer.count - offset)
        return try systemCall("read", path: peer) {
            buffer.withUnsafeMutableBytes { raw in Glibc.read(descriptor, raw.baseAddress! + offset, count) }
        }
    }

    /// Reads up to `storage.count` bytes into storage owned elsewhere (a transfer's
    /// buffer); 0 means the peer closed (or no room).
    public func read(into storage: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        guard let base = storage.baseAddress, storage.count > 0 else { return 0 }
        return try systemCall("read", path: peer) { Glibc.read(descriptor, base, storage.count) }
    }

    /// Writes all of `bytes`.
    public func writeAll(_ bytes: some Collection<UInt8>) throws(SystemError) {
        // Contiguous bytes (an array, or a slice of a reused buffer) are sent where they lie.
        var failure: SystemError?
        let contiguous: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            failure = sendAll(UnsafeRawBufferPointer(buffer))
        }
        if contiguous == nil { failure = Array(bytes).withUnsafeBytes { sendAll($0) } }
        if let failure { throw failure }
    }

    /// Nil once every byte is sent.
    private func sendAll(_ bytes: UnsafeRawBufferPointer) -> SystemError? {
        var offset = 0
        while offset < bytes.count {
            do {
                offset += try systemCall("write", path: peer) {
                    send(descriptor, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                }
            } catch { return error }
        }
        return nil
    }

    /// Reads block at most `seconds` (0: forever); a read that times out throws EAGAIN.
    public func setReceiveTimeout(seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Ends both directions, waking a thread blocked in `read`. Nothing once closed: the
    /// descriptor's number may belong to another file by then (a late deadline).
    public func shutdown() {
        guard !closed.load(ordering: .acquiring) else { return }
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Closed by its owner (`close()`); from then on `shutdown()` does nothing.
    public var isClosed: Bool { closed.load(ordering: .acquiring) }

    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Glibc.close(descriptor)
    }

    /// Gives up ownership: the descriptor will not be closed by this object (it was
    /// handed to the kernel, e.g. to vhci_hcd).
    public func release() -> Int32 {
        _ = closed.exchange(true, ordering: .acquiringAndReleasing)
        return descriptor
    }

    deinit { close() }

    /// A connected pair of Unix stream sockets.
    public static func pair() throws(SystemError) -> (Socket, Socket) {
        var fds: [Int32] = [0, 0]
        try systemCall("socketpair") {
            socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        }
        return (Socket(descriptor: fds[0], peer: "socketpair"), Socket(descriptor: fds[1], peer: "socketpair"))
    }
}

/// A host and port, written "host:port" or "[v6]:port".
public struct Endpoint: Equatable, Sendable, CustomStringConvertible {
    public let host: String
    public let port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses "host", "host:port", "[v6]" or "[v6]:port"; nil if malformed.
    public init?(parsing text: String, defaultPort: UInt16) {
        var host = Substring(text)
        var port = defaultPort
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let p = UInt16(rest.dropFirst()), p > 0 else { return nil }
                port = p
            }
        } else if let colon = host.lastIndex(of: ":"), host.firstIndex(of: ":") == colon {
            guard let p = UInt16(host[host.index(after: colon)...]), p > 0 else { return nil }
            port = p
            host = host[..<colon]
        }
        guard !host.isEmpty, !host.contains(" ") else { return nil }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Reachable from this machine only (127.0.0.0/8, ::1): where a listener without
    /// authentication (plain USB/IP, the laptop's bridge) needs no warning.
    public var isLoopback: Bool { host.hasPrefix("127.") || host == "::1" }
}

/// A reliable, ordered byte stream: a socket, or TLS over one. Sessions run over it
/// without knowing which.
public protocol ByteStream: AnyObject, Sendable {
    /// Reads up to `buffer.count - offset` bytes into `buffer[offset...]` (a decoder's
    /// buffer, after what it holds); 0 means the peer closed.
    func read(into buffer: inout [UInt8], from offset: Int) throws -> Int
    /// Writes all of `bytes`.
    func writeAll(_ bytes: some Collection<UInt8>) throws
    /// Ends both directions, waking a blocked reader.
    func shutdown()
    func close()
    /// Reads fail (EAGAIN) after this many seconds without a byte; 0: wait forever.
    func setReceiveTimeout(seconds: Int)
    /// Shown in logs: where the other end is.
    var peer: String { get }
    /// Whether `writeWithoutBlocking` works on this stream (a socket, or TLS directly
    /// over one); a stream whose writes may wait on another stream (TLS inside a relay's
    /// TLS) says no.
    var writesWithoutBlocking: Bool { get }
    /// Writes `bytes` as far as it can without blocking. Returns how many of them it took,
    /// and whether some of what it took is still held inside (TLS's records that the
    /// socket had no room for): those go out first with the next `writeAll`, which may be
    /// empty. Only where `writesWithoutBlocking`.
    func writeWithoutBlocking(_ bytes: ArraySlice<UInt8>) throws -> (taken: Int, holding: Bool)
}

extension ByteStream {
    /// Reads up to `buffer.count` bytes; 0 means the peer closed.
    public func read(into buffer: inout [UInt8]) throws -> Int {
        try read(into: &buffer, from: 0)
    }

    public var writesWithoutBlocking: Bool { false }
    /// A stream that cannot write without blocking writes them all, blocking.
    public func writeWithoutBlocking(_ bytes: ArraySlice<UInt8>) throws -> (taken: Int, holding: Bool) {
        try writeAll(bytes)
        return (bytes.count, false)
    }
}

extension Socket: ByteStream {
    public var writesWithoutBlocking: Bool { true }

    public func writeWithoutBlocking(_ bytes: ArraySlice<UInt8>) throws -> (taken: Int, holding: Bool) {
        (try sendNow(bytes), false)
    }
}
