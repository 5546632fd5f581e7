import Log
import Synchronization
import USBHost
import USBIP

#if canImport(Glibc)
    import Glibc
#endif

/// The server side of USB/IP on libusb: which devices can be exported, and at most one
/// import of each at a time.
///
/// Flow of one import: OP_REQ_IMPORT → `beginImport` opens the device and claims its
/// interfaces (kernel drivers detach) → an `ImportSession` turns CMD_SUBMIT/CMD_UNLINK
/// into libusb transfers and sends RET_SUBMIT/RET_UNLINK in completion order → when the
/// connection ends the session cancels what is in flight and the device is released.
public final class USBIPExporter: Sendable {
    let usb: USBContext
    let logger: Logger
    private let imported = Mutex<Set<String>>([])
    /// What the imports have done, for the metrics.
    public let counters = ExportCounters()
    /// The devices' names and serial numbers, read once per device.
    public let strings = KernelStrings()

    /// The imports that share the host's usbfs memory without one starving the others:
    /// each may keep a quarter of it in flight.
    static let usbfsShares = 4

    /// Each import's share of the host's usbfs memory, in bytes: usbcore's
    /// usbfs_memory_mb (16 by default) over `usbfsShares`; nil where usbfs has no limit
    /// (0) or the parameter cannot be read.
    public let transferShare: Int? = USBIPExporter.readUSBFSShare()

    static func readUSBFSShare(
        parameter: String = "/sys/module/usbcore/parameters/usbfs_memory_mb"
    ) -> Int? {
        let fd = open(parameter, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0, let megabytes = Int(String(decoding: buffer[0..<n], as: UTF8.self).filter(\.isNumber)),
            megabytes > 0
        else { return nil }
        return megabytes << 20 / usbfsShares
    }

    /// How many devices are imported now.
    public var importedCount: Int { imported.withLock { $0.count } }

    public init(usb: USBContext, logger: Logger) {
        self.usb = usb
        self.logger = logger
    }

    /// The devices this server offers: every device but hubs, but devices that are
    /// themselves imported here through vhci_hcd (offering those again would loop: a client
    /// on this machine attaching "every device like this one" would import its own copies),
    /// and but devices this machine uses itself (`SystemDevices`: a mounted disk, swap, a
    /// network interface). Each with the names and serial number the kernel read when it
    /// enumerated it (`KernelStrings`, kept per device): the serial number keys the
    /// device's sharing state and access rules, so every list keys a device alike.
    public func exportableDevices() throws(USBError) -> [USBDeviceInfo] {
        let own = SystemDevices()
        return try strings.named(
            usb.devices().filter {
                !$0.isHub && !Self.isImportedThroughVHCI(busid: $0.busid) && own.reason(busid: $0.busid) == nil
            })
    }

    /// Whether the device hangs off a vhci_hcd controller (sysfs: /sys/devices/platform/vhci_hcd.N/...).
    static func isImportedThroughVHCI(busid: String) -> Bool {
        sysfsPath(busid: busid).contains("/vhci_hcd.")
    }

    /// The device list as OP_REP_DEVLIST carries it.
    public func deviceList(where allows: (USBDeviceInfo) -> Bool = { _ in true }) throws(USBError) -> [ExportedDevice] {
        try exportableDevices().filter(allows).compactMap { Self.describe($0, withInterfaces: true) }
    }

    /// Why an import was refused, as OP_REP_IMPORT says it.
    public enum ImportRefusal: Error, Equatable {
        case noSuchDevice
        /// The access policy keeps it from this peer (it is told "no such device").
        case notAllowed
        case busy
        case failed(USBError)

        public var status: OpStatus {
            switch self {
            case .noSuchDevice, .notAllowed: .noDevice
            case .busy: .deviceBusy
            case .failed: .deviceError
            }
        }
    }

    /// Opens `busid` for one importer. The caller must call `endImport` with the handle.
    /// A device `allows` refuses is, to this importer, no device at all.
    /// Also returns the device as `allows` saw it.
    func beginImport(busid: String, allows: (USBDeviceInfo) -> Bool = { _ in true }) throws(ImportRefusal) -> (
        USBDeviceHandle, ExportedDevice, USBDeviceInfo
    ) {
        let devices: [USBDeviceInfo]
        do throws(USBError) { devices = try exportableDevices() } catch { throw .failed(error) }
        guard let info = devices.first(where: { $0.busid == busid }) else { throw .noSuchDevice }
        guard allows(info) else { throw .notAllowed }
        guard imported.withLock({ $0.insert(busid).inserted }) else { throw .busy }
        do throws(USBError) {
            let handle = try USBDeviceHandle(context: usb, busid: busid)
            // Described after opening: the configuration is what the importer starts from.
            guard let device = Self.describe(handle.info, withInterfaces: false) else {
                handle.close()
                throw USBError("describe \(busid)", code: -1)
            }
            return (handle, device, info)
        } catch {
            imported.withLock { _ = $0.remove(busid) }
            throw error.isNoDevice ? .noSuchDevice : error.isBusy ? .busy : .failed(error)
        }
    }

    func endImport(_ handle: USBDeviceHandle) {
        handle.close()
        imported.withLock { _ = $0.remove(handle.info.busid) }
    }

    /// A device as USB/IP describes it; nil if its bus id or path does not fit the fields.
    static func describe(_ info: USBDeviceInfo, withInterfaces: Bool) -> ExportedDevice? {
        let interfaces = info.interfaces.map {
            InterfaceSummary(
                bInterfaceClass: $0.interfaceClass, bInterfaceSubClass: $0.interfaceSubClass,
                bInterfaceProtocol: $0.interfaceProtocol)
        }
        return ExportedDevice(
            path: sysfsPath(busid: info.busid), busid: info.busid, busnum: UInt32(info.busNumber),
            devnum: UInt32(info.address), speed: USBSpeed(info.speed), idVendor: info.idVendor,
            idProduct: info.idProduct, bcdDevice: info.bcdDevice, bDeviceClass: info.deviceClass,
            bDeviceSubClass: info.deviceSubClass, bDeviceProtocol: info.deviceProtocol,
            bConfigurationValue: info.configurationValue, bNumConfigurations: info.numConfigurations,
            bNumInterfaces: UInt8(info.interfaces.count), interfaces: withInterfaces ? interfaces : [])
    }

    /// The device's sysfs path, as the kernel's usbipd reports it (the USB/IP `path` field).
    static func sysfsPath(busid: String) -> String {
        let link = "/sys/bus/usb/devices/\(busid)"
        guard let resolved = realpath(link, nil) else { return link }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

extension USBSpeed {
    init(_ speed: USBDeviceSpeed) {
        switch speed {
        case .unknown: self = .unknown
        case .low: self = .low
        case .full: self = .full
        case .high: self = .high
        case .super: self = .super
        case .superPlus: self = .superPlus
        }
    }
}

/// Totals over every import since the service started (Prometheus counters).
public final class ExportCounters: Sendable {
    public let urbs = Atomic<Int>(0)
    public let failedURBs = Atomic<Int>(0)
    /// Transfer bytes from the device to importers (IN) and from importers to the device (OUT).
    public let bytesIn = Atomic<Int>(0)
    public let bytesOut = Atomic<Int>(0)
    public let imports = Atomic<Int>(0)

    public init() {}

    func count(_ reply: SubmitReply, direction: USBIPDirection) {
        urbs.add(1, ordering: .relaxed)
        if reply.status != 0 { failedURBs.add(1, ordering: .relaxed) }
        if direction == .in {
            bytesIn.add(Int(reply.actualLength), ordering: .relaxed)
        } else {
            bytesOut.add(Int(reply.actualLength), ordering: .relaxed)
        }
    }
}
