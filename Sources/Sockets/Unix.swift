import FileSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Unix-domain sockets by path: datagrams (systemd's notify socket) and a stream listener
/// (usbp2pd's control socket). A path starting with '@' is in the abstract namespace.
public enum UnixSocket {
    /// Sends one datagram to `path`.
    public static func sendDatagram(_ bytes: [UInt8], to path: String) throws(SystemError) {
        let fd = try systemCall("socket") {
            socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        defer { Glibc.close(fd) }
        try withAddress(path) { address, length throws(SystemError) in
            try systemCall("sendto", path: path) {
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), address, length) }
            }
        }
    }

    /// Connects a stream socket to `path`.
    public static func connect(to path: String) throws(SystemError) -> Socket {
        let fd = try systemCall("socket") {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(SystemError) {
            try withAddress(path) { address, length throws(SystemError) in
                try systemCall("connect", path: path) { Glibc.connect(fd, address, length) }
            }
        } catch {
            Glibc.close(fd)
            throw error
        }
        return Socket(descriptor: fd, peer: path)
    }

    /// A listening stream socket at `path`, with the file's mode set to `mode` so only its
    /// owner (and group) may connect. A stale socket file there (nobody answers) is
    /// replaced; one that another process still listens on is EADDRINUSE.
    public static func listen(at path: String, mode: mode_t) throws(SystemError) -> Socket {
        if !path.hasPrefix("@"), let other = try? connect(to: path) {
            other.close()
            throw SystemError(call: "bind", path: path, errno: EADDRINUSE)
        }
        let fd = try systemCall("socket") {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(SystemError) {
            // Only a socket is replaced: a file of another kind there is a mistake in the
            // configuration, not something to delete.
            if !path.hasPrefix("@") {
                if AtomicFile.isSocket(path) {
                    unlink(path)
                } else if AtomicFile.exists(path) {
                    throw SystemError(call: "bind", path: path, errno: EEXIST)
                }
            }
            // The mode is set before `listen`: until then a connect is refused, so the
            // moment between bind and chmod lets nobody in. (Not through the umask: it is
            // the whole process's, and a directory made meanwhile on another thread would
            // lose its owner's execute bit.)
            try withAddress(path) { address, length throws(SystemError) in
                try systemCall("bind", path: path) { bind(fd, address, length) }
            }
            if !path.hasPrefix("@") { try systemCall("chmod", path: path) { chmod(path, mode) } }
            try systemCall("listen", path: path) { Glibc.listen(fd, 8) }
        } catch {
            Glibc.close(fd)
            throw error
        }
        return Socket(descriptor: fd, peer: path)
    }

    /// Gives the socket file at `path` to the group `group` (its members may then connect
    /// when the mode allows the group). False when no such group exists.
    public static func give(_ path: String, toGroup group: String) throws(SystemError) -> Bool {
        guard let gid = groupId(group) else { return false }
        try systemCall("chown", path: path) { chown(path, uid_t.max, gid) }  // -1: owner unchanged
        return true
    }

    /// The id of the group named `name`, if it exists.
    public static func groupId(_ name: String) -> gid_t? {
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let status = getgrnam_r(name, &group, &buffer, buffer.count, &result)
        return status == 0 && result != nil ? group.gr_gid : nil
    }

    /// Accepts one connection on a listener from `listen(at:mode:)`.
    public static func accept(on listener: Socket) throws(SystemError) -> Socket {
        let fd = try systemCall("accept") { Glibc.accept(listener.descriptor, nil, nil) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return Socket(descriptor: fd, peer: "control client")
    }

    @discardableResult
    private static func withAddress<T>(
        _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemError) -> T
    ) throws(SystemError) -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw SystemError(call: "socket address", path: path, errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes[0] == 0 ? 0 : 1))
        return try withUnsafePointer(to: &address) { pointer throws(SystemError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { p throws(SystemError) in
                try body(p, length)
            }
        }
    }
}
