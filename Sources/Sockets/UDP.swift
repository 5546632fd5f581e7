import FileSystem

#if canImport(Glibc)
    import Glibc
#endif

/// An IPv4 UDP socket, for multicast DNS: datagrams to and from numeric endpoints.
public final class UDPSocket: @unchecked Sendable {
    public let descriptor: Int32

    /// Bound to `port` on all addresses (0: any port); `shared` lets other programs bind
    /// the same port (the mDNS port is shared with avahi-daemon where it runs).
    public init(port: UInt16, shared: Bool = false) throws(SystemError) {
        descriptor = try systemCall("socket") {
            Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            var one: Int32 = 1
            if shared {
                setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
                setsockopt(descriptor, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            var address = try TCP.socketAddress(Endpoint(host: "0.0.0.0", port: port))
            let length = TCP.addressLength(address)
            try systemCall("bind", path: "UDP port \(port)") {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
                }
            }
        } catch {
            Glibc.close(descriptor)
            throw error
        }
    }

    deinit { Glibc.close(descriptor) }

    /// Whether this host has a route to `endpoint` now: connect(2) on a UDP socket looks
    /// the route up and sends nothing. False only when the kernel says the network is
    /// unreachable (no address or default route yet, as at boot before DHCP).
    public static func hasRoute(to endpoint: Endpoint) -> Bool {
        guard var address = try? TCP.socketAddress(endpoint) else { return false }
        let fd = Glibc.socket(Int32(address.ss_family), Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return true }  // Not known: let the caller try.
        defer { Glibc.close(fd) }
        let length = TCP.addressLength(address)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
        return result == 0 || errno != ENETUNREACH
    }

    /// Joins `group` on the interface with address `interface` ("0.0.0.0": the default one).
    public func join(group: String, interface: String) throws(SystemError) {
        var request = ip_mreq()
        guard inet_pton(AF_INET, group, &request.imr_multiaddr) == 1,
            inet_pton(AF_INET, interface, &request.imr_interface) == 1
        else { throw SystemError(call: "parse address", path: "\(group) on \(interface)", errno: EINVAL) }
        try systemCall("join \(group)", path: interface) {
            setsockopt(
                descriptor, Int32(IPPROTO_IP), IP_ADD_MEMBERSHIP, &request, socklen_t(MemoryLayout<ip_mreq>.size))
        }
    }

    /// Multicast sent from here goes out with this TTL (mDNS: 255) and comes back to
    /// this host's own sockets too (a client and a server on one machine).
    public func setMulticast(ttl: UInt8, loop: Bool = true) {
        var value = ttl
        setsockopt(descriptor, Int32(IPPROTO_IP), IP_MULTICAST_TTL, &value, 1)
        var flag: UInt8 = loop ? 1 : 0
        setsockopt(descriptor, Int32(IPPROTO_IP), IP_MULTICAST_LOOP, &flag, 1)
    }

    /// Multicast from here leaves through the interface with this address.
    public func setMulticastInterface(_ address: String) throws(SystemError) {
        var raw = in_addr()
        guard inet_pton(AF_INET, address, &raw) == 1 else {
            throw SystemError(call: "parse address", path: address, errno: EINVAL)
        }
        try systemCall("IP_MULTICAST_IF", path: address) {
            setsockopt(descriptor, Int32(IPPROTO_IP), IP_MULTICAST_IF, &raw, socklen_t(MemoryLayout<in_addr>.size))
        }
    }

    public func send(_ bytes: [UInt8], to endpoint: Endpoint) throws(SystemError) {
        var address = try TCP.socketAddress(endpoint)
        let length = TCP.addressLength(address)
        _ = try systemCall("sendto", path: "\(endpoint)") {
            bytes.withUnsafeBytes { buffer in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(descriptor, buffer.baseAddress, buffer.count, 0, $0, length)
                    }
                }
            }
        }
    }

    /// The next datagram (at most `maxLength` bytes; longer ones are cut) and its sender;
    /// nil when nothing came within `seconds`.
    public func receive(maxLength: Int, within seconds: Double) throws(SystemError) -> ([UInt8], Endpoint)? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = try systemCall("poll") { poll(&poller, 1, Int32(max(0, seconds) * 1000)) }
        guard ready > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: maxLength)
        var from = sockaddr_storage()
        var fromLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let n = try systemCall("recvfrom") {
            buffer.withUnsafeMutableBytes { raw in
                withUnsafeMutablePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(descriptor, raw.baseAddress, raw.count, 0, $0, &fromLength)
                    }
                }
            }
        }
        guard let sender = Endpoint(parsing: TCP.describe(from), defaultPort: 0) else { return nil }
        return (Array(buffer[0..<n]), sender)
    }

    /// The port this socket is bound to.
    public var port: UInt16 { TCP.boundAddress(of: descriptor).map(TCP.port(of:)) ?? 0 }

    /// Wakes a thread blocked in `receive` (it then reads an error or nothing).
    public func shutdown() { _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR)) }
}
