// One exported device as OP_REP_DEVLIST and OP_REP_IMPORT describe it (usbip_protocol.rst).
//
//  offset  size  field (big-endian integers)
//  0x000   256   path: sysfs path, zero-terminated, zero-padded
//  0x100    32   busid: e.g. "3-2", zero-terminated, zero-padded
//  0x120     4   busnum
//  0x124     4   devnum
//  0x128     4   speed (enum usb_device_speed)
//  0x12C     2   idVendor
//  0x12E     2   idProduct
//  0x130     2   bcdDevice
//  0x132     1   bDeviceClass
//  0x133     1   bDeviceSubClass
//  0x134     1   bDeviceProtocol
//  0x135     1   bConfigurationValue
//  0x136     1   bNumConfigurations
//  0x137     1   bNumInterfaces
//  0x138         (OP_REP_DEVLIST only) bNumInterfaces times:
//                bInterfaceClass, bInterfaceSubClass, bInterfaceProtocol, padding (0)
//
// Offsets are relative to the record; the protocol document gives them relative to the
// message, which starts the first record at 0x0C (devlist) or 0x08 (import).

/// The class triple of one interface, as listed in OP_REP_DEVLIST.
public struct InterfaceSummary: Equatable, Hashable, Sendable {
    public var bInterfaceClass: UInt8
    public var bInterfaceSubClass: UInt8
    public var bInterfaceProtocol: UInt8

    public init(bInterfaceClass: UInt8, bInterfaceSubClass: UInt8, bInterfaceProtocol: UInt8) {
        self.bInterfaceClass = bInterfaceClass
        self.bInterfaceSubClass = bInterfaceSubClass
        self.bInterfaceProtocol = bInterfaceProtocol
    }
}

/// A USB device as a USB/IP server describes it.
public struct ExportedDevice: Equatable, Hashable, Sendable {
    /// The most interfaces one USB configuration can have (USB_MAXINTERFACES in the kernel).
    public static let maxInterfaces: UInt8 = 32

    public var path: String
    public var busid: String
    public var busnum: UInt32
    public var devnum: UInt32
    public var speed: USBSpeed
    public var idVendor: UInt16
    public var idProduct: UInt16
    public var bcdDevice: UInt16
    public var bDeviceClass: UInt8
    public var bDeviceSubClass: UInt8
    public var bDeviceProtocol: UInt8
    public var bConfigurationValue: UInt8
    public var bNumConfigurations: UInt8
    public var bNumInterfaces: UInt8
    /// Present in a device list; empty in an import reply, which does not carry them.
    public var interfaces: [InterfaceSummary]

    /// Fails (returns nil) when `path` or `busid` would not fit their fields with the
    /// terminating zero, or `interfaces` exceeds the USB maximum.
    public init?(
        path: String, busid: String, busnum: UInt32, devnum: UInt32, speed: USBSpeed,
        idVendor: UInt16, idProduct: UInt16, bcdDevice: UInt16,
        bDeviceClass: UInt8, bDeviceSubClass: UInt8, bDeviceProtocol: UInt8,
        bConfigurationValue: UInt8, bNumConfigurations: UInt8, bNumInterfaces: UInt8,
        interfaces: [InterfaceSummary] = []
    ) {
        guard path.utf8.count < WireSize.path, busid.utf8.count < WireSize.busid,
            !path.utf8.contains(0), !busid.utf8.contains(0),
            bNumInterfaces <= Self.maxInterfaces, interfaces.count <= Int(Self.maxInterfaces)
        else { return nil }
        self.path = path
        self.busid = busid
        self.busnum = busnum
        self.devnum = devnum
        self.speed = speed
        self.idVendor = idVendor
        self.idProduct = idProduct
        self.bcdDevice = bcdDevice
        self.bDeviceClass = bDeviceClass
        self.bDeviceSubClass = bDeviceSubClass
        self.bDeviceProtocol = bDeviceProtocol
        self.bConfigurationValue = bConfigurationValue
        self.bNumConfigurations = bNumConfigurations
        self.bNumInterfaces = bNumInterfaces
        self.interfaces = interfaces
    }

    /// The devid a client puts in its URB headers for this device: (busnum << 16) | devnum.
    public var devid: UInt32 { busnum << 16 | (devnum & 0xFFFF) }

    func encode(into buffer: inout [UInt8], withInterfaces: Bool) {
        buffer.appendFixedString(path, size: WireSize.path)
        buffer.appendFixedString(busid, size: WireSize.busid)
        buffer.appendBigEndian(busnum)
        buffer.appendBigEndian(devnum)
        buffer.appendBigEndian(speed.rawValue)
        buffer.appendBigEndian(idVendor)
        buffer.appendBigEndian(idProduct)
        buffer.appendBigEndian(bcdDevice)
        buffer.append(contentsOf: [
            bDeviceClass, bDeviceSubClass, bDeviceProtocol,
            bConfigurationValue, bNumConfigurations, bNumInterfaces,
        ])
        guard withInterfaces else { return }
        precondition(
            interfaces.count == Int(bNumInterfaces),
            "a device list entry must list bNumInterfaces (\(bNumInterfaces)) interfaces, has \(interfaces.count)")
        for interface in interfaces {
            buffer.append(contentsOf: [
                interface.bInterfaceClass, interface.bInterfaceSubClass, interface.bInterfaceProtocol, 0,
            ])
        }
    }

    /// Decodes one record; nil when the reader does not yet hold all of it.
    static func decode(from reader: inout ByteReader, withInterfaces: Bool) throws(USBIPError) -> ExportedDevice? {
        guard reader.remaining >= WireSize.exportedDevice else { return nil }
        // bNumInterfaces is the record's last byte: check it, and that the interfaces
        // are here, before reading anything else.
        let numInterfaces = reader.bytes[reader.index + WireSize.exportedDevice - 1]
        guard numInterfaces <= maxInterfaces else {
            throw .tooManyInterfaces(count: numInterfaces, limit: maxInterfaces)
        }
        if withInterfaces,
            reader.remaining < WireSize.exportedDevice + Int(numInterfaces) * WireSize.interface
        {
            return nil
        }
        let path = try reader.readFixedString(WireSize.path, field: .path)
        let busid = try reader.readFixedString(WireSize.busid, field: .busid)
        let busnum = reader.readUInt32()
        let devnum = reader.readUInt32()
        let rawSpeed = reader.readUInt32()
        guard let speed = USBSpeed(rawValue: rawSpeed) else { throw .invalidSpeed(rawSpeed) }
        let idVendor = reader.readUInt16()
        let idProduct = reader.readUInt16()
        let bcdDevice = reader.readUInt16()
        let bDeviceClass = reader.readUInt8()
        let bDeviceSubClass = reader.readUInt8()
        let bDeviceProtocol = reader.readUInt8()
        let bConfigurationValue = reader.readUInt8()
        let bNumConfigurations = reader.readUInt8()
        reader.skip(1)  // bNumInterfaces, read above
        var interfaces: [InterfaceSummary] = []
        if withInterfaces {
            interfaces.reserveCapacity(Int(numInterfaces))
            for _ in 0..<numInterfaces {
                interfaces.append(
                    InterfaceSummary(
                        bInterfaceClass: reader.readUInt8(), bInterfaceSubClass: reader.readUInt8(),
                        bInterfaceProtocol: reader.readUInt8()))
                reader.skip(1)  // padding
            }
        }
        // The string checks above guarantee the initializer's conditions.
        return ExportedDevice(
            path: path, busid: busid, busnum: busnum, devnum: devnum, speed: speed,
            idVendor: idVendor, idProduct: idProduct, bcdDevice: bcdDevice,
            bDeviceClass: bDeviceClass, bDeviceSubClass: bDeviceSubClass, bDeviceProtocol: bDeviceProtocol,
            bConfigurationValue: bConfigurationValue, bNumConfigurations: bNumConfigurations,
            bNumInterfaces: numInterfaces, interfaces: interfaces)!
    }
}
