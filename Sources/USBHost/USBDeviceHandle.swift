import ByteBuffers
import CLibUSB
import Synchronization

/// An opened device, all of whose interfaces this process has claimed (kernel drivers
/// detached while it holds them, re-attached when it lets go).
public final class USBDeviceHandle: @unchecked Sendable {
    let handle: OpaquePointer
    public let info: USBDeviceInfo
    let context: USBContext
    /// Interface numbers currently claimed. libusb calls on one handle are thread-safe;
    /// the lock keeps this set consistent with them.
    private let claimed = Mutex<Set<Int32>>([])
    private let closed = Atomic<Bool>(false)
    /// Alternate setting chosen per interface (0 unless SET_INTERFACE said otherwise).
    private let alternateSettings = Mutex<[Int32: Int32]>([:])
    /// Endpoint address to type, for the current configuration and alternate settings.
    private let endpointTypes = Mutex<[UInt8: USBTransferType]?>(nil)
    /// Bulk transfer buffers mapped by usbfs, kept for reuse; the pool closes the device
    /// once the last of them has come back.
    let memory: BlockPool

    /// Opens the device at `busid` and claims its interfaces.
    public init(context: USBContext, busid: String) throws(USBError) {
        var list: UnsafeMutablePointer<OpaquePointer?>?
        let count = try check(
            Int32(truncatingIfNeeded: libusb_get_device_list(context.context, &list)), "libusb_get_device_list")
        defer { libusb_free_device_list(list, 1) }
        var found: (OpaquePointer, USBDeviceInfo)?
        for i in 0..<Int(count) {
            if let device = list?[i], let info = USBDeviceInfo(device), info.busid == busid {
                found = (device, info)
            }
        }
        guard let (device, info) = found else {
            throw USBError("open \(busid)", code: Int32(LIBUSB_ERROR_NO_DEVICE.rawValue))
        }
        var raw: OpaquePointer?
        try check(libusb_open(device, &raw), "open \(busid)")
        handle = raw!
        self.info = info
        self.context = context
        memory = BlockPool(
            source: DeviceMemory(handle: handle, context: context), budget: DeviceMemory.budget,
            granule: DeviceMemory.granule)
        _ = libusb_set_auto_detach_kernel_driver(handle, 1)
        do throws(USBError) {
            try claimActiveInterfaces()
        } catch {
            libusb_close(handle)
            throw error
        }
    }

    /// Claims every interface of the active configuration (none if unconfigured).
    private func claimActiveInterfaces() throws(USBError) {
        for number in try activeInterfaceNumbers() {
            try check(libusb_claim_interface(handle, number), "claim interface \(number) of \(info.busid)")
            claimed.withLock { _ = $0.insert(number) }
        }
    }

    private func activeInterfaceNumbers() throws(USBError) -> [Int32] {
        guard let config = try activeConfigDescriptor() else { return [] }
        defer { libusb_free_config_descriptor(config) }
        return (0..<Int(config.pointee.bNumInterfaces)).compactMap { i in
            let interface = config.pointee.interface[i]
            return interface.num_altsetting > 0 ? Int32(interface.altsetting[0].bInterfaceNumber) : nil
        }
    }

    /// The active configuration's value (0: unconfigured), from the interfaces' names in
    /// sysfs, which take no lock (`USBDeviceInfo.activeConfigurationValue`): an import and
    /// an importer's SET_CONFIGURATION run on a session's reader, which must not wait for
    /// the kernel's lock on the device as libusb's reading (sysfs's bConfigurationValue)
    /// does. libusb's only when sysfs has no answer.
    private func activeConfiguration() throws(USBError) -> Int32 {
        if let value = USBDeviceInfo.activeConfigurationValue(busid: info.busid) { return Int32(value) }
        var value: Int32 = 0
        try check(libusb_get_configuration(handle, &value), "get configuration of \(info.busid)")
        return value
    }

    /// The active configuration's descriptor from libusb's copy (free it with
    /// `libusb_free_config_descriptor`); nil when the device is unconfigured.
    private func activeConfigDescriptor() throws(USBError) -> UnsafeMutablePointer<libusb_config_descriptor>? {
        let value = try activeConfiguration()
        guard value != 0 else { return nil }
        var config: UnsafeMutablePointer<libusb_config_descriptor>?
        try check(
            libusb_get_config_descriptor_by_value(libusb_get_device(handle), UInt8(truncatingIfNeeded: value), &config),
            "read configuration \(value) of \(info.busid)")
        return config
    }

    private func releaseAll() {
        for number in claimed.withLock({ set in
            defer { set.removeAll() }
            return set
        }) {
            _ = libusb_release_interface(handle, number)
        }
    }

    /// SET_CONFIGURATION done the way the kernel's usbip-host does: through the host
    /// stack (interfaces released and claimed again), not as a raw request.
    ///
    /// The configuration already active is left as it is: setting it again would reset
    /// the device's endpoints, and every importer sends it during enumeration. A change
    /// releases the interfaces without giving them back to host drivers (which would
    /// bind at once and make the change fail with "busy").
    public func setConfiguration(_ value: Int32) throws(USBError) {
        if (try? activeConfiguration()) == value { return }
        _ = libusb_set_auto_detach_kernel_driver(handle, 0)
        defer { _ = libusb_set_auto_detach_kernel_driver(handle, 1) }
        releaseAll()
        alternateSettings.withLock { $0.removeAll() }
        endpointTypes.withLock { $0 = nil }
        try check(libusb_set_configuration(handle, value), "set configuration \(value) of \(info.busid)")
        _ = libusb_set_auto_detach_kernel_driver(handle, 1)
        try claimActiveInterfaces()
    }

    /// A buffer for a bulk OUT transfer of `count` bytes, filled by the caller and
    /// submitted as `USBTransfer`'s `outBlock`: usbfs's mapped memory for this device when
    /// the transfer is large enough and the device's share has room, else the heap.
    public func outTransferBuffer(_ count: Int) -> FixedBytes {
        (count >= DeviceMemory.smallest ? memory.lend(count) : nil) ?? FixedBytes(uninitializedCount: max(count, 1))
    }

    /// SET_INTERFACE through the host stack.
    public func setInterface(_ interface: Int32, alternateSetting: Int32) throws(USBError) {
        try check(
            libusb_set_interface_alt_setting(handle, interface, alternateSetting),
            "set interface \(interface) alt \(alternateSetting) of \(info.busid)")
        alternateSettings.withLock { $0[interface] = alternateSetting }
        endpointTypes.withLock { $0 = nil }
    }

    /// The type of the endpoint with address `endpoint` (bit 7 set for IN) in the current
    /// configuration and alternate settings; nil if the device has no such endpoint.
    public func transferType(endpoint: UInt8) -> USBTransferType? {
        if endpoint & 0x7F == 0 { return .control }
        if let cached = endpointTypes.withLock({ $0 }) { return cached[endpoint] }
        var types: [UInt8: USBTransferType] = [:]
        guard let config = try? activeConfigDescriptor() else { return nil }
        defer { libusb_free_config_descriptor(config) }
        let chosen = alternateSettings.withLock { $0 }
        for i in 0..<Int(config.pointee.bNumInterfaces) {
            let interface = config.pointee.interface[i]
            for a in 0..<Int(interface.num_altsetting) {
                let alt = interface.altsetting[a]
                guard Int32(alt.bAlternateSetting) == chosen[Int32(alt.bInterfaceNumber), default: 0] else { continue }
                for e in 0..<Int(alt.bNumEndpoints) {
                    let ep = alt.endpoint[e]
                    switch ep.bmAttributes & 0x3 {
                    case 1: types[ep.bEndpointAddress] = .isochronous
                    case 2: types[ep.bEndpointAddress] = .bulk
                    case 3: types[ep.bEndpointAddress] = .interrupt
                    default: types[ep.bEndpointAddress] = .control
                    }
                }
            }
        }
        endpointTypes.withLock { $0 = types }
        return types[endpoint]
    }

    /// CLEAR_FEATURE(ENDPOINT_HALT) through the host stack (resets the data toggle too).
    public func clearHalt(endpoint: UInt8) throws(USBError) {
        try check(libusb_clear_halt(handle, endpoint), "clear halt of endpoint 0x\(String(endpoint, radix: 16))")
    }

    /// A port reset of the device, as the importer's hub driver asked for.
    public func reset() throws(USBError) {
        try check(libusb_reset_device(handle), "reset \(info.busid)")
    }

    /// Releases the interfaces (kernel drivers come back) and closes the device, or has
    /// it closed once the last mapped buffer a reply still holds comes back. Transfers
    /// still in flight must have completed first.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        releaseAll()
        memory.close()
    }

    deinit { close() }
}
