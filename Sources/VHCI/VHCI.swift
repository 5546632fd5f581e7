import FileSystem
import USBIP

#if canImport(Glibc)
    import Glibc
#endif

// vhci_hcd's sysfs interface (drivers/usb/usbip/vhci_sysfs.c), as the kernel's own
// `usbip attach` uses it:
//   /sys/devices/platform/vhci_hcd.0/status, status.1, ...: one line per port,
//       "hub port sta spd dev sockfd local_busid", hub "hs" (high/full/low speed) or
//       "ss" (super speed), sta 4 = free (VDEV_ST_NULL), 6 = in use (VDEV_ST_USED)
//   /sys/devices/platform/vhci_hcd.0/attach: write "port sockfd devid speed"; the kernel
//       takes its own reference to the socket behind sockfd
//   /sys/devices/platform/vhci_hcd.0/detach: write "port"
// Port numbers are global across vhci_hcd.N controllers; writes go to vhci_hcd.0.

/// One port of the virtual host controller.
public struct VHCIPort: Equatable, Sendable {
    public enum Hub: String, Sendable {
        case high = "hs"
        case superSpeed = "ss"
    }
    public let hub: Hub
    public let port: Int
    public let status: Int
    public let speed: Int
    public let devid: UInt32
    public let localBusid: String

    /// VDEV_ST_NULL: nothing attached.
    public var isFree: Bool { status == 4 }
}

/// Why a vhci operation failed, in words a user can act on.
public enum VHCIError: Error, Equatable, CustomStringConvertible {
    case notLoaded
    case permissionDenied(String)
    case noFreePort(VHCIPort.Hub)
    case noSuchPort(Int)
    case kernelRefused(String, SystemError)

    public var description: String {
        switch self {
        case .notLoaded:
            return "vhci_hcd is not loaded: run 'modprobe vhci-hcd' as root (the usbip kernel support, "
                + "package linux-image-* on Debian)"
        case .permissionDenied(let path):
            return "no permission to write \(path): attaching devices needs root"
        case .noFreePort(let hub):
            return
                "every \(hub == .superSpeed ? "SuperSpeed" : "high/full/low speed") vhci port is in use; detach one first"
        case .noSuchPort(let port):
            return "vhci port \(port) has no device attached"
        case .kernelRefused(let what, let error):
            return "vhci_hcd refused to \(what): \(error)"
        }
    }
}

public enum VHCI {
    static let root = "/sys/devices/platform"
    static var controller: String { "\(root)/vhci_hcd.0" }

    /// Every port of every vhci_hcd controller.
    public static func ports() throws(VHCIError) -> [VHCIPort] {
        guard AtomicFile.isDirectory(controller) else { throw .notLoaded }
        var result: [VHCIPort] = []
        var index = 0
        while true {
            let path = "\(controller)/status" + (index == 0 ? "" : ".\(index)")
            guard let bytes = try? AtomicFile.read(path, maxSize: 1 << 20) else { break }
            result += parseStatus(String(decoding: bytes, as: UTF8.self))
            index += 1
        }
        return result
    }

    /// Parses a status file; lines that do not fit the format are skipped.
    static func parseStatus(_ text: String) -> [VHCIPort] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 7, let hub = VHCIPort.Hub(rawValue: String(f[0])), let port = Int(f[1]),
                let status = Int(f[2]), let speed = Int(f[3]), let devid = UInt32(f[4], radix: 16)
            else { return nil }
            return VHCIPort(hub: hub, port: port, status: status, speed: speed, devid: devid, localBusid: String(f[6]))
        }
    }

    /// Hands `socket` (connected to a USB/IP server that has just accepted the import of
    /// `device`) to vhci_hcd on a free port of the right speed; returns the port.
    public static func attach(socketDescriptor: Int32, device: ExportedDevice) throws(VHCIError) -> Int {
        let hub: VHCIPort.Hub = device.speed == .super || device.speed == .superPlus ? .superSpeed : .high
        guard let port = try ports().first(where: { $0.hub == hub && $0.isFree }) else { throw .noFreePort(hub) }
        let line = "\(port.port) \(socketDescriptor) \(device.devid) \(device.speed.rawValue)"
        try write(line, to: "\(controller)/attach", what: "attach \(device.busid) on port \(port.port)")
        return port.port
    }

    /// Detaches the device on `port`.
    public static func detach(port: Int) throws(VHCIError) {
        guard let current = try ports().first(where: { $0.port == port }), !current.isFree else {
            throw .noSuchPort(port)
        }
        try write("\(port)", to: "\(controller)/detach", what: "detach port \(port)")
    }

    private static func write(_ text: String, to path: String, what: String) throws(VHCIError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == EACCES || code == EPERM { throw .permissionDenied(path) }
            if code == ENOENT { throw .notLoaded }
            throw .kernelRefused(what, SystemError(call: "open", path: path, errno: code))
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n != bytes.count {
            let code = errno
            if code == EACCES || code == EPERM { throw .permissionDenied(path) }
            throw .kernelRefused(what, SystemError(call: "write", path: path, errno: code))
        }
    }
}
