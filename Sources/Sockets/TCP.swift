import FileSystem

#if canImport(Glibc)
    import Glibc
#endif

/// TCP connections and listeners for numeric addresses (IPv4 or IPv6). Names are not
/// resolved here: a USB/IP server is given by address.
public enum TCP {
    /// Connects to `endpoint`; fails after `timeoutSeconds` without an answer. With
    /// `localPort`, the connection leaves from that port (0: one the kernel picks), bound
    /// with SO_REUSEADDR and SO_REUSEPORT so that other sockets may share it: the relay
    /// connection and a hole-punching attempt leave from one port, so a NAT that keeps
    /// its mapping per port gives both the same public address.
    public static func connect(
        to endpoint: Endpoint, timeoutSeconds: Int = 10, localPort: UInt16? = nil, localAddress: String? = nil
    ) throws(SystemError) -> Socket {
        var address = try socketAddress(endpoint)
        let fd = try systemCall("socket", path: "\(endpoint)") {
            Glibc.socket(Int32(address.ss_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        let connected = Socket(descriptor: fd, peer: "\(endpoint)")
        if let localPort {
            try bindShared(fd, port: localPort, family: address.ss_family, describing: "\(endpoint)")
        } else if let localAddress {
            // Leaves from one of this host's addresses (tests of per-source limits).
            var local = try socketAddress(Endpoint(host: localAddress, port: 0))
            let length = addressLength(local)
            try systemCall("bind", path: "\(localAddress) for \(endpoint)") {
                withUnsafePointer(to: &local) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
                }
            }
        }
        try withUnsafePointer(to: &address) { (pointer) throws(SystemError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (address) throws(SystemError) in
                try connect(
                    fd, to: address, length: addressLength(pointer.pointee), timeoutSeconds: timeoutSeconds,
                    describing: "\(endpoint)")
            }
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return connected
    }

    /// connect(2) with one deadline on the whole attempt, which a signal neither cuts
    /// short nor extends, failing with ETIMEDOUT when it passes: non-blocking, then a wait
    /// for the outcome (SO_ERROR). (A blocking connect with SO_SNDTIMEO, as before, failed
    /// with "Operation now in progress" at its timeout, and after a signal handler's EINTR
    /// a second call waited the whole timeout again.)
    static func connect(
        _ fd: Int32, to address: UnsafePointer<sockaddr>, length: socklen_t, timeoutSeconds: Int, describing: String
    ) throws(SystemError) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        if Glibc.connect(fd, address, length) == 0 { return }
        let started = errno
        guard started == EINPROGRESS || started == EINTR else {
            throw SystemError(call: "connect", path: describing, errno: started)
        }
        let deadline = ListenerWatch.monotonic() + Double(max(0, timeoutSeconds))
        while true {
            let left = Int32(
                max(0, min(((deadline - ListenerWatch.monotonic()) * 1000).rounded(.up), Double(Int32.max))))
            guard left > 0 else { throw SystemError(call: "connect", path: describing, errno: ETIMEDOUT) }
            var one = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&one, 1, left)
            if ready < 0 {
                let code = errno
                if code == EINTR { continue }
                throw SystemError(call: "poll", path: describing, errno: code)
            }
            if ready == 0 { continue }  // The deadline's check above says it passed.
            var failure: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &size) == 0 else {
                throw SystemError(call: "getsockopt", path: describing, errno: errno)
            }
            if failure != 0 { throw SystemError(call: "connect", path: describing, errno: failure) }
            return
        }
    }

    /// Binds `fd` to the wildcard address and `port`, shared with other sockets that do the same.
    static func bindShared(_ fd: Int32, port: UInt16, family: sa_family_t, describing: String) throws(SystemError) {
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        var local = try socketAddress(Endpoint(host: family == sa_family_t(AF_INET6) ? "::" : "0.0.0.0", port: port))
        let length = addressLength(local)
        try systemCall("bind", path: "port \(port) for \(describing)") {
            withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
        }
    }

    /// The local address a socket is bound to.
    public static func localEndpoint(of socket: Socket) -> Endpoint? {
        boundAddress(of: socket.descriptor).flatMap { Endpoint(parsing: describe($0), defaultPort: 0) }
    }

    /// getsockname: the address a descriptor (TCP or UDP) is bound to.
    static func boundAddress(of descriptor: Int32) -> sockaddr_storage? {
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return result == 0 ? bound : nil
    }

    /// A listening socket bound to `endpoint`.
    public final class Listener: @unchecked Sendable {
        public let socket: Socket
        public let endpoint: Endpoint

        /// - Parameter sharedPort: SO_REUSEPORT, so connections may leave from this port too.
        ///   Another listener on the port is still refused (EADDRINUSE), as without it:
        ///   SO_REUSEPORT alone would let a second server on the port take half its clients.
        public init(endpoint: Endpoint, backlog: Int32 = 16, sharedPort: Bool = false) throws(SystemError) {
            var address = try socketAddress(endpoint)
            if sharedPort { try Self.refuseIfListenedOn(endpoint) }
            let fd = try systemCall("socket", path: "\(endpoint)") {
                Glibc.socket(Int32(address.ss_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            }
            socket = Socket(descriptor: fd, peer: "\(endpoint)")
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            // Shared with the connections that leave from this port (relay, hole punching).
            if sharedPort { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) }
            let length = addressLength(address)
            try systemCall("bind", path: "\(endpoint)") {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
                }
            }
            try systemCall("listen", path: "\(endpoint)") { listen(fd, backlog) }
            self.endpoint = Endpoint(
                host: endpoint.host, port: TCP.boundAddress(of: fd).map(TCP.port(of:)) ?? endpoint.port)
        }

        /// A plain bind (SO_REUSEADDR only) fails where any socket listens on the port.
        private static func refuseIfListenedOn(_ endpoint: Endpoint) throws(SystemError) {
            var address = try socketAddress(endpoint)
            let probe = try systemCall("socket", path: "\(endpoint)") {
                Glibc.socket(Int32(address.ss_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            }
            defer { Glibc.close(probe) }
            var one: Int32 = 1
            setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            let length = addressLength(address)
            try systemCall("bind", path: "\(endpoint)") {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, length) }
                }
            }
        }

        /// Waits for the next connection.
        public func accept() throws(SystemError) -> Socket {
            var peer = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = try systemCall("accept", path: "\(endpoint)") {
                withUnsafeMutablePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Glibc.accept(socket.descriptor, $0, &length)
                    }
                }
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return Socket(descriptor: fd, peer: TCP.describe(peer))
        }
    }

    /// The size of the sockaddr that `storage` holds, by its family.
    static func addressLength(_ storage: sockaddr_storage) -> socklen_t {
        socklen_t(
            storage.ss_family == sa_family_t(AF_INET6)
                ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
    }

    static func socketAddress(_ endpoint: Endpoint) throws(SystemError) -> sockaddr_storage {
        var storage = sockaddr_storage()
        if endpoint.host.contains(":") {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = endpoint.port.bigEndian
            guard inet_pton(AF_INET6, endpoint.host, &a.sin6_addr) == 1 else {
                throw SystemError(call: "parse address", path: endpoint.host, errno: EINVAL)
            }
            withUnsafeMutableBytes(of: &storage) { s in withUnsafeBytes(of: a) { s.copyMemory(from: $0) } }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = endpoint.port.bigEndian
            guard inet_pton(AF_INET, endpoint.host, &a.sin_addr) == 1 else {
                throw SystemError(call: "parse address", path: endpoint.host, errno: EINVAL)
            }
            withUnsafeMutableBytes(of: &storage) { s in withUnsafeBytes(of: a) { s.copyMemory(from: $0) } }
        }
        return storage
    }

    /// A zero-terminated C string in a buffer.
    static func cText(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func port(of storage: sockaddr_storage) -> UInt16 {
        withUnsafeBytes(of: storage) { raw in
            // sin_port and sin6_port both sit right after the 2-byte family.
            UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        }
    }

    static func describe(_ storage: sockaddr_storage) -> String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var copy = storage
        if storage.ss_family == sa_family_t(AF_INET6) {
            withUnsafePointer(to: &copy) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { a in
                    var addr = a.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count))
                }
            }
            return "[\(cText(text))]:\(port(of: storage))"
        }
        withUnsafePointer(to: &copy) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { a in
                var addr = a.pointee.sin_addr
                _ = inet_ntop(AF_INET, &addr, &text, socklen_t(text.count))
            }
        }
        return "\(cText(text)):\(port(of: storage))"
    }
}
