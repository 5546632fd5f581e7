import OSThreads
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Notices that an imported device went away (unplugged, its port reset to a new
/// address, its driver unbound) even when no transfer is in flight to report it: it
/// checks the device's sysfs entry a few times a second. libusb's hotplug events would
/// need udev, which a minimal system (the test guest) may not run.
final class DeviceWatch: Sendable {
    private let stopped = Atomic<Bool>(false)

    /// How often the device's presence is checked.
    static let interval: useconds_t = 250_000

    /// Starts watching `busid`, whose kernel device number is `devnum`; calls `gone`
    /// once if it disappears before `stop()`.
    init(busid: String, devnum: UInt8, gone: @escaping @Sendable () -> Void) throws(ThreadStartError) {
        let path = "/sys/bus/usb/devices/\(busid)/devnum"
        try OSThread.detach(name: "device-watch") { [self] in
            while !stopped.load(ordering: .acquiring) {
                usleep(Self.interval)
                if stopped.load(ordering: .acquiring) { return }
                if DeviceWatch.readNumber(path) != Int(devnum) {
                    gone()
                    return
                }
            }
        }
    }

    func stop() { stopped.store(true, ordering: .releasing) }

    private static func readNumber(_ path: String) -> Int? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return Int(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: " \n"))
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
