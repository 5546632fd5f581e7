import Synchronization
import USBHost

/// A device's names and serial number as the kernel read them when it enumerated the
/// device (sysfs's `manufacturer`, `product` and `serial`), read once per device and kept.
///
/// Why not each time: reading those attributes waits for the kernel's lock on the device
/// (Linux 6.1, drivers/usb/core/sysfs.c, `usb_string_attr`), held for as long as an
/// enumeration, a reset or any program's usbfs ioctl lasts, and opening the device to ask
/// it for its string descriptors (libusb) waits for the same lock and then talks to the
/// device. A device list is served on a session's reader and the status page on its one
/// thread; with the strings kept, only a device's first listing can wait, and usbp2pd
/// makes that one on its notices queue when the device arrives.
///
/// Keyed by bus id and device number: a device enumerated again (unplugged and plugged,
/// or re-enumerated after its descriptors changed) gets a new number, so its strings are
/// read again; a reset keeps the number and the kernel keeps the strings.
public final class KernelStrings: Sendable {
    public struct Strings: Sendable, Equatable {
        public var manufacturer: String?
        public var product: String?
        public var serial: String?

        public init(manufacturer: String? = nil, product: String? = nil, serial: String? = nil) {
            self.manufacturer = manufacturer
            self.product = product
            self.serial = serial
        }
    }

    struct Key: Hashable {
        let busid: String
        let address: UInt8
    }

    private let sysfs: String
    private let known = Mutex<[Key: Strings]>([:])

    /// `sysfs`: where the kernel lists USB devices by bus id.
    public init(sysfs: String = "/sys/bus/usb/devices") {
        self.sysfs = sysfs
    }

    /// `devices` with their kernel strings; strings kept for a device no longer in
    /// `devices` are forgotten (the list is the machine's whole set of such devices).
    public func named(_ devices: [USBDeviceInfo]) -> [USBDeviceInfo] {
        let named = devices.map { device in
            var info = device
            let strings = strings(busid: device.busid, address: device.address)
            info.manufacturer = strings.manufacturer
            info.product = strings.product
            info.serialNumber = strings.serial
            return info
        }
        forget(keeping: devices.map { Key(busid: $0.busid, address: $0.address) })
        return named
    }

    /// The strings of the device at `busid` with device number `address`: kept ones, or
    /// read now (outside the cache's lock: a read may wait for the device).
    public func strings(busid: String, address: UInt8) -> Strings {
        let key = Key(busid: busid, address: address)
        if let kept = known.withLock({ $0[key] }) { return kept }
        let read = Strings(
            manufacturer: attribute("manufacturer", of: busid), product: attribute("product", of: busid),
            serial: attribute("serial", of: busid))
        known.withLock { $0[key] = read }
        return read
    }

    /// Forgets every device but those in `present`.
    func forget(keeping present: [Key]) {
        let keep = Set(present)
        known.withLock { kept in kept = kept.filter { keep.contains($0.key) } }
    }

    /// How many devices' strings are kept.
    var count: Int { known.withLock { $0.count } }

    /// One attribute's first line; nil when the device has no such string (the kernel
    /// then has no such file) or it is empty.
    private func attribute(_ name: String, of busid: String) -> String? {
        let text = SystemDevices.text("\(sysfs)/\(busid)/\(name)")
        let line = String(text.prefix { $0 != "\n" })
        return line.isEmpty ? nil : line
    }
}
