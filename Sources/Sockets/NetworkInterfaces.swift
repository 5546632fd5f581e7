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

    /// An IPv4 network of one of this machine's interfaces: its address and netmask as
    /// 32-bit numbers.
    public struct Subnet: Equatable, Sendable {
        public let address: UInt32
        public let mask: UInt32
        public init(address: UInt32, mask: UInt32) {
            self.address = address
            self.mask = mask
        }
        public func contains(_ other: UInt32) -> Bool { other & mask == address & mask }
    }

    /// The IPv4 networks of the interfaces that are up, loopback included.
    public static func ipv4Subnets() -> [Subnet] {
        var first: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&first) == 0 else { return [] }
        defer { freeifaddrs(first) }
        var subnets: [Subnet] = []
        var next = first
        while let entry = next {
            defer { next = entry.pointee.ifa_next }
            guard Int32(entry.pointee.ifa_flags) & Int32(IFF_UP) != 0, let address = entry.pointee.ifa_addr,
                let mask = entry.pointee.ifa_netmask, address.pointee.sa_family == sa_family_t(AF_INET)
            else { continue }
            let value = { (raw: UnsafeMutablePointer<sockaddr>) in
                raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    UInt32(bigEndian: $0.pointee.sin_addr.s_addr)
                }
            }
            subnets.append(Subnet(address: value(address), mask: value(mask)))
        }
        return subnets
    }

    /// Whether an IPv4 `host` is on a link of this machine: inside one of `subnets`, or a
    /// link-local (169.254/16) or loopback address. What a responder that must answer only
    /// its own link (RFC 6762, section 11) checks a query's source against.
    public static func isOnLink(_ host: String, subnets: [Subnet]) -> Bool {
        guard let bytes = Endpoint(host: host, port: 0).addressBytes, bytes.count == 4 else { return false }
        let value = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        if value >> 24 == 127 || value >> 16 == 0xA9FE { return true }
        return subnets.contains { $0.contains(value) }
    }
}

extension NetworkInterfaces {
    /// Whether `host` is a loopback, link-local or private address: IPv4 127/8, 169.254/16,
    /// 10/8, 172.16/12, 192.168/16 (RFC 1918); IPv6 ::1, fe80::/10, fc00::/7 (RFC 4193),
    /// and IPv4 ones mapped into IPv6.
    public static func isPrivateOrLinkLocal(_ host: String) -> Bool {
        guard var bytes = Endpoint(host: host, port: 0).addressBytes else { return false }
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            bytes = Array(bytes[12...])
        }
        if bytes.count == 4 {
            return bytes[0] == 127 || bytes[0] == 10 || (bytes[0] == 169 && bytes[1] == 254)
                || (bytes[0] == 172 && bytes[1] & 0xf0 == 16) || (bytes[0] == 192 && bytes[1] == 168)
        }
        let loopback = bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1
        return loopback || (bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80) || bytes[0] & 0xfe == 0xfc
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
