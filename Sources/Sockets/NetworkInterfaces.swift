#if canImport(Glibc)
    import Glibc
#endif

/// The machine's own addresses, for telling peers on the same network where to connect.
public enum NetworkInterfaces {
    /// IPv4 addresses of interfaces that are up, loopback and link-local left out unless
    /// `includingLoopback`. IPv6 is left out: a LAN peer reaches the same host over IPv4, and
    /// link-local v6 addresses need a scope that means nothing to the peer.
    public static func ipv4Addresses(includingLoopback: Bool = false) -> [String] {
        var first: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&first) == 0 else { return [] }
        defer { freeifaddrs(first) }
        var addresses: [String] = []
        var next = first
        while let entry = next {
            defer { next = entry.pointee.ifa_next }
            let flags = Int32(entry.pointee.ifa_flags)
            guard flags & Int32(IFF_UP) != 0, let address = entry.pointee.ifa_addr,
                address.pointee.sa_family == sa_family_t(AF_INET)
            else { continue }
            if flags & Int32(IFF_LOOPBACK) != 0, !includingLoopback { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                var raw = v4.pointee.sin_addr
                _ = inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
            }
            let dotted = TCP.cText(text)
            if dotted.hasPrefix("169.254.") { continue }
            if !addresses.contains(dotted) { addresses.append(dotted) }
        }
        return addresses
    }
}

extension Endpoint {
    /// The numeric address as 4 (IPv4) or 16 (IPv6) bytes; nil for a host that is not a
    /// numeric address.
    public var addressBytes: [UInt8]? {
        if host.contains(":") {
            var raw = in6_addr()
            guard inet_pton(AF_INET6, host, &raw) == 1 else { return nil }
            return withUnsafeBytes(of: raw) { Array($0) }
        }
        var raw = in_addr()
        guard inet_pton(AF_INET, host, &raw) == 1 else { return nil }
        return withUnsafeBytes(of: raw) { Array($0) }
    }

    /// An endpoint from a numeric address of 4 or 16 bytes; nil for another length.
    public init?(addressBytes bytes: [UInt8], port: UInt16) {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch bytes.count {
        case 4:
            var raw = in_addr()
            withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
            _ = inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
        case 16:
            var raw = in6_addr()
            withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
            _ = inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
        default: return nil
        }
        self.init(host: TCP.cText(text), port: port)
    }
}
