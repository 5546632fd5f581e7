import CLibUSB
import FileSystem

/// A device's speed, as libusb reports it.
public enum USBDeviceSpeed: Sendable, Equatable {
    case unknown, low, full, high, `super`, superPlus
}

/// The class triple of one interface (alternate setting 0 of the active configuration).
public struct USBInterfaceClass: Sendable, Hashable {
    public let interfaceClass: UInt8
    public let interfaceSubClass: UInt8
    public let interfaceProtocol: UInt8
}

/// A USB device as enumeration sees it, without opening it.
public struct USBDeviceInfo: Sendable, Hashable {
    public let busNumber: UInt8
    public let address: UInt8
    /// Hub port numbers from the root hub down; empty for a root hub.
    public let portPath: [UInt8]
    public let speed: USBDeviceSpeed
    public let idVendor: UInt16
    public let idProduct: UInt16
    public let bcdDevice: UInt16
    public let deviceClass: UInt8
    public let deviceSubClass: UInt8
    public let deviceProtocol: UInt8
    public let numConfigurations: UInt8
    /// bConfigurationValue of the active configuration; 0 when unconfigured.
    public let configurationValue: UInt8
    public let interfaces: [USBInterfaceClass]
    /// iManufacturer, iProduct and iSerialNumber as the kernel read them, where a lister
    /// adds them (the exporter's `KernelStrings`); nil from enumeration alone.
    public var manufacturer: String?
    public var product: String?
    public var serialNumber: String?

    /// The kernel's name for the device's position, e.g. "1-1.2" (bus 1, port 1, port 2).
    public var busid: String { Self.busid(bus: busNumber, ports: portPath) }

    static func busid(bus: UInt8, ports: [UInt8]) -> String {
        "\(bus)-" + ports.map(String.init).joined(separator: ".")
    }

    /// Whether the device is a hub (not something to export).
    public var isHub: Bool { deviceClass == 9 }
}

extension USBDeviceInfo {
    /// The bConfigurationValue of the device's active configuration, from the names of its
    /// interfaces in sysfs ("BUSID:C.I", C the configuration); 0 when it has none (it is
    /// unconfigured), nil when its directory cannot be read. libusb reads sysfs's
    /// bConfigurationValue instead, and reading that attribute waits for the kernel's lock
    /// on the device (Linux 6.1, drivers/usb/core/sysfs.c), held for as long as its
    /// enumeration, a reset or any program's usbfs ioctl lasts (devio.c): a listing or a
    /// hotplug event waited on a device being enumerated through this very process. A
    /// directory is read without that lock.
    static func activeConfigurationValue(busid: String, sysfs: String = "/sys/bus/usb/devices") -> UInt8? {
        let names = AtomicFile.names(in: "\(sysfs)/\(busid)")
        guard !names.isEmpty else { return nil }
        for name in names where name.hasPrefix(busid + ":") {
            let position = name.dropFirst(busid.count + 1)
            guard let dot = position.firstIndex(of: "."), let value = UInt8(position[..<dot]) else { continue }
            return value
        }
        return 0
    }
}

extension USBContext {
    /// Every device on the machine except root hubs, from their descriptors (no device is
    /// opened and nothing waits for a device's lock).
    public func devices() throws(USBError) -> [USBDeviceInfo] {
        var list: UnsafeMutablePointer<OpaquePointer?>?
        let count = try check(
            Int32(truncatingIfNeeded: libusb_get_device_list(context, &list)), "libusb_get_device_list")
        defer { libusb_free_device_list(list, 1) }
        var result: [USBDeviceInfo] = []
        for i in 0..<Int(count) {
            guard let device = list?[i], let info = USBDeviceInfo(device), !info.portPath.isEmpty else { continue }
            result.append(info)
        }
        return result
    }
}

extension USBDeviceInfo {
    /// Reads a libusb_device's descriptors; nil if it vanished meanwhile.
    init?(_ device: OpaquePointer) {
        var descriptor = libusb_device_descriptor()
        guard libusb_get_device_descriptor(device, &descriptor) == 0 else { return nil }
        var ports = [UInt8](repeating: 0, count: 8)
        let depth = ports.withUnsafeMutableBufferPointer {
            libusb_get_port_numbers(device, $0.baseAddress, Int32($0.count))
        }
        busNumber = libusb_get_bus_number(device)
        address = libusb_get_device_address(device)
        portPath = depth > 0 ? Array(ports[0..<Int(depth)]) : []
        switch Int(libusb_get_device_speed(device)) {
        case Int(LIBUSB_SPEED_LOW.rawValue): speed = .low
        case Int(LIBUSB_SPEED_FULL.rawValue): speed = .full
        case Int(LIBUSB_SPEED_HIGH.rawValue): speed = .high
        case Int(LIBUSB_SPEED_SUPER.rawValue): speed = .super
        case Int(LIBUSB_SPEED_SUPER_PLUS.rawValue): speed = .superPlus
        default: speed = .unknown
        }
        idVendor = descriptor.idVendor
        idProduct = descriptor.idProduct
        bcdDevice = descriptor.bcdDevice
        deviceClass = descriptor.bDeviceClass
        deviceSubClass = descriptor.bDeviceSubClass
        deviceProtocol = descriptor.bDeviceProtocol
        numConfigurations = descriptor.bNumConfigurations
        // Not libusb_get_active_config_descriptor: see `activeConfigurationValue`.
        var config: UnsafeMutablePointer<libusb_config_descriptor>?
        var active = false
        if let value = Self.activeConfigurationValue(busid: Self.busid(bus: busNumber, ports: portPath)), value != 0,
            libusb_get_config_descriptor_by_value(device, value, &config) == 0
        {
            active = true
        } else if libusb_get_config_descriptor(device, 0, &config) != 0 {
            config = nil
        }
        var interfaces: [USBInterfaceClass] = []
        var value: UInt8 = 0
        if let config {
            value = active ? config.pointee.bConfigurationValue : 0
            for i in 0..<Int(config.pointee.bNumInterfaces) {
                let interface = config.pointee.interface[i]
                guard interface.num_altsetting > 0 else { continue }
                let alt = interface.altsetting[0]
                interfaces.append(
                    USBInterfaceClass(
                        interfaceClass: alt.bInterfaceClass, interfaceSubClass: alt.bInterfaceSubClass,
                        interfaceProtocol: alt.bInterfaceProtocol))
            }
            libusb_free_config_descriptor(config)
        }
        configurationValue = value
        self.interfaces = interfaces
        manufacturer = nil
        product = nil
        serialNumber = nil
    }
}
