import FileSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Who is at the other end of a TCP connection made from this machine: the user who
/// owns the connecting socket, from the kernel's table of TCP sockets (/proc/net/tcp and
/// tcp6), where that socket is the row with this connection's two addresses swapped. A
/// TCP port, unlike a Unix socket's file, has no owner or group of its own to check.
public enum LocalPeer {
    /// What is known of the other end of a connection.
    public enum Owner: Equatable, Sendable {
        /// A socket of this machine (and network namespace) owned by this user.
        case user(uid_t)
        /// The peer's address is a loopback one, yet no such socket is in the table: it
        /// went already (TIME_WAIT), or the connection was not made by a socket of this
        /// network namespace (WSL2's mirrored networking delivers Windows' connections to
        /// localhost so, by its documentation).
        case unknownLocal
        /// The peer is elsewhere (its address is not a loopback one).
        case remote
    }

    /// The owner of the other end of the connected TCP socket `socket`.
    public static func owner(of socket: Socket, tables: String = "/proc/net") -> Owner {
        guard let local = TCP.boundAddress(of: socket.descriptor).map(unmapped),
            let remote = peerAddress(of: socket.descriptor).map(unmapped)
        else { return .unknownLocal }
        guard isLoopback(remote) else { return .remote }
        let file = remote.ss_family == sa_family_t(AF_INET6) ? "tcp6" : "tcp"
        let table = readText("\(tables)/\(file)")
        return uid(in: table, local: tableKey(remote), remote: tableKey(local)).map(Owner.user) ?? .unknownLocal
    }

    /// The uid in the row of `table` (as the kernel prints /proc/net/tcp) whose local and
    /// remote addresses are these; nil when there is none, or only a connection in
    /// TIME_WAIT (state 06), whose row the kernel prints with uid 0 whoever made it.
    static func uid(in table: String, local: String, remote: String) -> uid_t? {
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
            guard fields.count > 7, fields[1] == local, fields[2] == remote, fields[3] != "06" else { continue }
            return UInt32(fields[7])
        }
        return nil
    }

    /// An address as the table prints it: the address's bytes read as 32-bit words in this
    /// machine's byte order, each as 8 hex digits, then ":" and the port as 4.
    static func tableKey(_ storage: sockaddr_storage) -> String {
        let bytes = addressBytes(storage)
        var key = ""
        for word in stride(from: 0, to: bytes.count, by: 4) {
            let value = bytes[word..<word + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            key += hex(UInt64(value), digits: 8)
        }
        return key + ":" + hex(UInt64(TCP.port(of: storage)), digits: 4)
    }

    /// Whether the user `uid` is in the group named `group`, as its primary group or a
    /// supplementary one (/etc/group, through the C library). False for an unknown user
    /// or group.
    public static func isMember(uid: uid_t, ofGroup group: String) -> Bool {
        guard let gid = UnixSocket.groupId(group), let user = account(uid) else { return false }
        if user.group == gid { return true }
        var groups = [gid_t](repeating: 0, count: 64)
        var count = Int32(groups.count)
        if getgrouplist(user.name, user.group, &groups, &count) == -1 {
            // More groups than that: `count` now says how many.
            groups = [gid_t](repeating: 0, count: Int(max(0, min(count, 65536))))
            count = Int32(groups.count)
            guard getgrouplist(user.name, user.group, &groups, &count) != -1 else { return false }
        }
        return groups.prefix(Int(max(0, count))).contains(gid)
    }

    /// The name of the user `uid`, if it has one.
    public static func userName(_ uid: uid_t) -> String? { account(uid)?.name }

    /// The user `uid`'s name and primary group (the password database, through the C
    /// library); nil for an unknown user.
    private static func account(_ uid: uid_t) -> (name: String, group: gid_t)? {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &found) == 0, found != nil, let name = entry.pw_name
        else { return nil }
        return (String(cString: name), entry.pw_gid)
    }

    private static func peerAddress(of descriptor: Int32) -> sockaddr_storage? {
        var peer = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &length) }
        }
        return result == 0 ? peer : nil
    }

    /// The raw address: 4 bytes for IPv4, 16 for IPv6.
    private static func addressBytes(_ storage: sockaddr_storage) -> [UInt8] {
        withUnsafeBytes(of: storage) { raw in
            storage.ss_family == sa_family_t(AF_INET6)
                ? Array(raw[(MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr) ?? 8)...].prefix(16))
                : Array(raw[(MemoryLayout<sockaddr_in>.offset(of: \.sin_addr) ?? 4)...].prefix(4))
        }
    }

    /// An IPv4 address mapped into IPv6 (::ffff:a.b.c.d, a dual-stack listener's view of
    /// an IPv4 client) as the IPv4 address it is: that client's row is in the IPv4 table.
    private static func unmapped(_ storage: sockaddr_storage) -> sockaddr_storage {
        guard storage.ss_family == sa_family_t(AF_INET6) else { return storage }
        let bytes = addressBytes(storage)
        guard bytes.prefix(10).allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff else { return storage }
        let host = bytes[12...].map(String.init).joined(separator: ".")
        return (try? TCP.socketAddress(Endpoint(host: host, port: TCP.port(of: storage)))) ?? storage
    }

    private static func isLoopback(_ storage: sockaddr_storage) -> Bool {
        let bytes = addressBytes(storage)
        return storage.ss_family == sa_family_t(AF_INET6)
            ? bytes == Array(repeating: 0, count: 15) + [1] : bytes[0] == 127
    }

    private static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// A /proc file's text ("" when it cannot be read, or is over 32 MiB: a machine's
    /// whole socket table, tens of thousands of sockets in a few MB).
    private static func readText(_ path: String) -> String {
        (try? AtomicFile.read(path, maxSize: 32 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}
