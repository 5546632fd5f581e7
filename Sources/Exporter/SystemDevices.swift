#if canImport(Glibc)
    import Glibc
#endif

/// The USB devices this machine uses itself, which it must never offer: one holding a
/// mounted filesystem or swap (a Pi that boots from a USB disk, a disk mounted here) or
/// a network interface. An import claims every interface of the device through usbfs,
/// so the root filesystem, or the network the session itself runs on, would vanish from
/// under this machine.
public struct SystemDevices: Sendable {
    /// sysfs paths (resolved) of what this machine uses, each with why: block devices that
    /// are mounted or used as swap (and the disks under a device-mapper or md device that
    /// is), and network interfaces.
    let used: [(path: String, why: String)]

    /// Reads what is in use now from `/proc/self/mountinfo`, `/proc/swaps` and sysfs; the
    /// roots are for tests (a fake tree).
    public init(sys: String = "/sys", proc: String = "/proc") {
        var used: [(String, String)] = []
        for (device, mountPoint) in Self.mounts(Self.text("\(proc)/self/mountinfo")) {
            for path in Self.blockPaths(major: device.major, minor: device.minor, sys: sys) {
                used.append((path, "the filesystem mounted at \(mountPoint) is on it"))
            }
        }
        for name in Self.swapDevices(Self.text("\(proc)/swaps")) {
            for path in Self.resolvedWithSlaves("\(sys)/class/block/\(name)", sys: sys, depth: 0) {
                used.append((path, "this machine swaps to it"))
            }
        }
        for interface in Self.names(in: "\(sys)/class/net") {
            if let path = Self.resolved("\(sys)/class/net/\(interface)/device") {
                used.append((path, "it is this machine's network interface \(interface)"))
            }
        }
        self.used = used
    }

    /// Why the USB device at resolved sysfs path `devicePath` is this machine's own, or nil.
    public func reason(devicePath: String) -> String? {
        used.first { $0.path.hasPrefix(devicePath + "/") || $0.path == devicePath }?.why
    }

    /// Why the USB device `busid` is this machine's own, or nil.
    public func reason(busid: String, sys: String = "/sys") -> String? {
        guard let path = Self.resolved("\(sys)/bus/usb/devices/\(busid)") else { return nil }
        return reason(devicePath: path)
    }

    /// (major, minor) and mount point of each mounted filesystem on a real block device
    /// (mountinfo(5): the third field is major:minor, the fifth the mount point, octal
    /// escapes in it as the kernel writes them).
    static func mounts(_ text: String) -> [(device: (major: UInt32, minor: UInt32), mountPoint: String)] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let numbers = fields[2].split(separator: ":")
            guard numbers.count == 2, let major = UInt32(numbers[0]), let minor = UInt32(numbers[1]), major != 0 else {
                return nil
            }
            return ((major, minor), String(fields[4]).replacingOctalEscapes)
        }
    }

    /// The kernel names of the block devices in /proc/swaps (swap files are on a mounted
    /// filesystem, which the mounts cover).
    static func swapDevices(_ text: String) -> [String] {
        text.split(separator: "\n").dropFirst().compactMap { line in
            guard let file = line.split(separator: " ").first, file.hasPrefix("/dev/") else { return nil }
            return String(file.split(separator: "/").last!)
        }
    }

    /// The resolved sysfs paths of block device major:minor and of the devices under it
    /// (a device-mapper or md device's `slaves`, a few levels deep).
    static func blockPaths(major: UInt32, minor: UInt32, sys: String) -> [String] {
        resolvedWithSlaves("\(sys)/dev/block/\(major):\(minor)", sys: sys, depth: 0)
    }

    private static func resolvedWithSlaves(_ link: String, sys: String, depth: Int) -> [String] {
        guard let path = resolved(link) else { return [] }
        guard depth < 4 else { return [path] }
        return [path]
            + names(in: "\(path)/slaves").flatMap {
                resolvedWithSlaves("\(path)/slaves/\($0)", sys: sys, depth: depth + 1)
            }
    }

    static func resolved(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func names(in directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// A small /proc file's text ("" when it cannot be read: nothing is then known to be
    /// in use, as on a machine without it).
    static func text(_ path: String) -> String {
        guard let file = fopen(path, "r") else { return "" }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    /// mountinfo's `\040` (space), `\011`, `\012`, `\134` back to their characters.
    fileprivate var replacingOctalEscapes: String {
        guard contains("\\") else { return self }
        var bytes: [UInt8] = []
        var utf8 = Array(self.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
                let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
