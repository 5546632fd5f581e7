#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Files that hold state (keys, allowlists) are replaced whole or not at all: written to
/// a temporary file beside the target, flushed, renamed over it, and the directory
/// flushed, so a power cut leaves either the old content or the new.
public enum AtomicFile {
    /// Writes `bytes` to `path` with permission bits `mode` (e.g. 0o600), atomically.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t) throws(SystemError) {
        let directory = parentDirectory(of: path)
        // Unique per write: a temporary left behind by a power cut must not block the
        // writes of a later process that happens to get the same PID.
        let temporary = "\(path).tmp.\(getpid()).\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
        let fd = try systemCall("open", path: temporary) {
            open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        }
        do throws(SystemError) {
            // The umask may have narrowed `mode`; an explicit fchmod makes it exact.
            try systemCall("fchmod", path: temporary) { fchmod(fd, mode) }
            // Root writing into a directory another user owns (`sudo usbp2pd allow` into the
            // service's state directory) leaves the file to that user: a root-owned 0600
            // file there is one the service could no longer read.
            if geteuid() == 0 {
                var owner = stat()
                if stat(directory, &owner) == 0, owner.st_uid != 0 {
                    try systemCall("fchown", path: temporary) { fchown(fd, owner.st_uid, owner.st_gid) }
                }
            }
            var written = 0
            while written < bytes.count {
                let n = try systemCall("write", path: temporary) {
                    bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
                }
                written += n
            }
            try systemCall("fsync", path: temporary) { fsync(fd) }
            try systemCall("close", path: temporary) { close(fd) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        do throws(SystemError) {
            try systemCall("rename", path: path) { rename(temporary, path) }
        } catch {
            unlink(temporary)
            throw error
        }
        try syncDirectory(directory)
    }

    /// Removes the temporaries that writes in `directory` left behind when their process
    /// died before the rename (a power cut, a kill): `NAME.tmp.PID.RANDOM` (or the older
    /// `NAME.tmp.PID`) whose process no longer runs. A live writer's file is left alone.
    /// Returns the names removed.
    @discardableResult
    public static func removeStaleTemporaries(in directory: String) -> [String] {
        var removed: [String] = []
        for name in names(in: directory) {
            guard let pid = writerPID(ofTemporary: name), !isRunning(pid) else { continue }
            if unlink("\(directory)/\(name)") == 0 { removed.append(name) }
        }
        if !removed.isEmpty { try? syncDirectory(directory) }
        return removed.sorted()
    }

    /// The names in `directory` (not "." and ".."); none when it cannot be read.
    public static func names(in directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// The PID in a temporary's name `NAME.tmp.PID[.RANDOM]`; nil for any other name.
    static func writerPID(ofTemporary name: String) -> pid_t? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard let tmp = parts.lastIndex(of: "tmp"), tmp > 0, tmp + 1 < parts.count, parts.count - tmp <= 3,
            parts[tmp + 1].allSatisfy(\.isNumber), let pid = pid_t(parts[tmp + 1]), pid > 0
        else { return nil }
        if tmp + 2 < parts.count {
            let random = parts[tmp + 2]
            guard !random.isEmpty, random.allSatisfy({ $0.isNumber || ("a"..."z").contains($0) }) else { return nil }
        }
        return pid
    }

    private static func isRunning(_ pid: pid_t) -> Bool { kill(pid, 0) == 0 || errno == EPERM }

    /// The text of a state file of at most `maxSize` bytes; nil when it does not exist yet.
    public static func readState(_ path: String, maxSize: Int) throws(SystemError) -> String? {
        guard exists(path) else { return nil }
        return String(decoding: try read(path, maxSize: maxSize), as: UTF8.self)
    }

    /// Writes a state file whole (mode 0600), making its directory (mode 0700) first when
    /// there is none.
    public static func writeState(_ text: String, to path: String) throws(SystemError) {
        let directory = parentDirectory(of: path)
        if !isDirectory(directory) { try createDirectory(directory, mode: 0o700) }
        try write(Array(text.utf8), to: path, mode: 0o600)
    }

    /// Reads a whole file of at most `maxSize` bytes.
    public static func read(_ path: String, maxSize: Int) throws(SystemError) -> [UInt8] {
        let fd = try systemCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = try systemCall("read", path: path) {
                chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
            if result.count > maxSize { throw SystemError(call: "read", path: path, errno: EFBIG) }
        }
    }

    /// Creates `path` and its missing parents with exactly `mode` for the ones it creates
    /// (whatever the umask).
    public static func createDirectory(_ path: String, mode: mode_t) throws(SystemError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) == 0 {
                // The umask may have narrowed `mode`: made exact, as files are.
                guard chmod(current, mode) == 0 else { throw SystemError(call: "chmod", path: current, errno: errno) }
                continue
            }
            let code = errno
            if code == EEXIST, isDirectory(current) { continue }
            throw SystemError(call: "mkdir", path: current, errno: code == EEXIST ? ENOTDIR : code)
        }
    }

    /// Removes `path` if it is there; a missing file is no error, any other failure is.
    public static func remove(_ path: String) throws(SystemError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw SystemError(call: "unlink", path: path, errno: errno) }
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Whether `path` itself (not following a link) is a Unix socket.
    public static func isSocket(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK
    }

    /// Permission bits and owner of a file (following links).
    public static func attributes(_ path: String) throws(SystemError) -> (mode: mode_t, owner: uid_t) {
        var info = stat()
        try systemCall("stat", path: path) { stat(path, &info) }
        return (info.st_mode & 0o7777, info.st_uid)
    }

    /// Which version of a file `path` names now (its inode, size and modification time),
    /// to tell that it changed; nil when it does not exist.
    public static func version(of path: String) -> FileVersion? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileVersion(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
    }

    /// The directory part of `path` ("." when it has none).
    public static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func syncDirectory(_ directory: String) throws(SystemError) {
        let fd = try systemCall("open", path: directory) { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try systemCall("fsync", path: directory) { fsync(fd) }
    }
}

/// A file as `AtomicFile.version(of:)` saw it: equal versions are (as far as stat can tell)
/// the same content. An atomic replacement always makes another inode.
public struct FileVersion: Equatable, Sendable {
    public let device: UInt64
    public let inode: UInt64
    public let size: Int64
    public let modified: Int64
}
