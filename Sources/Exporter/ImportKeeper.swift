import OSThreads

#if canImport(Glibc)
    import Glibc
#endif

/// The thread of one import: it notices that the imported device went away (unplugged,
/// its port reset to a new address, its driver unbound) even when no transfer is in
/// flight to report it, by checking the device's sysfs entry once a second and at once
/// when a hotplug event says a device left (`checkNow`; libusb's hotplug events need
/// udev, which a minimal system, the test guest, may not run, so the slow look stays);
/// and it ends the import, once, when asked (`finish`) or when the device is gone.
/// Ending runs here, never on the thread that asks: the asker may be the USB thread,
/// holding the import's lock, or a session's reader, which must not wait for cancelled
/// transfers.
final class ImportKeeper: @unchecked Sendable {
    private let monitor = Monitor()
    // Guarded by `monitor`.
    private var reason: String?
    private var ended = false
    private var checkAsked = false

    /// How often the device's presence is checked without a hotplug event (each look
    /// wakes the process: an idle appliance keeps them few).
    static let interval = 1.0

    /// Starts keeping the import of `busid`, whose kernel device number is `devnum`:
    /// `gone` is called (on this thread) if the device disappears first; `end` runs once,
    /// with why, when the import ends. (`sysfs` and `interval` are for tests.)
    init(
        busid: String, devnum: UInt8, sysfs: String = "/sys/bus/usb/devices", interval: Double = ImportKeeper.interval,
        gone: @escaping @Sendable () -> Void, end: @escaping @Sendable (String) -> Void
    ) throws(ThreadStartError) {
        let path = "\(sysfs)/\(busid)/devnum"
        try OSThread.detach(name: "usbip-import") { [self] in
            while true {
                let asked: String? = monitor.withLock {
                    if reason == nil, !checkAsked { monitor.wait(seconds: interval) }
                    checkAsked = false
                    return reason
                }
                if asked != nil { break }
                if ImportKeeper.readNumber(path) != Int(devnum) {
                    gone()
                    finish("\(busid) is gone")
                }
            }
            end(monitor.withLock { reason! })
            monitor.withLock {
                ended = true
                monitor.broadcast()
            }
        }
    }

    /// Looks at once whether the device is still there (a device left); returns at once.
    func checkNow() {
        monitor.withLock {
            checkAsked = true
            monitor.broadcast()
        }
    }

    /// Asks for the import to end (the first reason counts); returns at once.
    func finish(_ why: String) {
        monitor.withLock {
            if reason == nil { reason = why }
            monitor.broadcast()
        }
    }

    /// Waits until the import has ended (its device released).
    func waitUntilEnded() {
        monitor.withLock {
            while !ended { monitor.wait() }
        }
    }

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
