import CLibUSB
import Synchronization

/// A device arriving or leaving, as libusb's hotplug support reports it (through udev
/// on Debian's libusb: without udevd no events arrive).
public enum USBHotplugEvent: Sendable, Equatable {
    case arrived(USBDeviceInfo)
    case left(USBDeviceInfo)
}

extension USBContext {
    /// Calls `handler` on the USB thread for every device that arrives or leaves, for the
    /// life of the context. It must not block. Returns false where libusb has no hotplug
    /// support on this system.
    @discardableResult
    public func onHotplug(_ handler: @escaping @Sendable (USBHotplugEvent) -> Void) throws(USBError) -> Bool {
        guard libusb_has_capability(UInt32(LIBUSB_CAP_HAS_HOTPLUG.rawValue)) != 0 else { return false }
        let box = HotplugHandler(handler)
        keepAlive(box)
        let events = Int32(LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED.rawValue | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT.rawValue)
        try check(
            libusb_hotplug_register_callback(
                context, events, 0, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
                hotplugCallback, Unmanaged.passUnretained(box).toOpaque(), nil),
            "register a hotplug callback")
        return true
    }
}

/// The Swift side of one hotplug registration; kept alive by its context.
final class HotplugHandler: Sendable {
    let handler: @Sendable (USBHotplugEvent) -> Void
    init(_ handler: @escaping @Sendable (USBHotplugEvent) -> Void) { self.handler = handler }
}

private func hotplugCallback(
    _ context: OpaquePointer?, _ device: OpaquePointer?, _ event: libusb_hotplug_event,
    _ userData: UnsafeMutableRawPointer?
) -> Int32 {
    guard let device, let userData, let info = USBDeviceInfo(device) else { return 0 }
    let box = Unmanaged<HotplugHandler>.fromOpaque(userData).takeUnretainedValue()
    box.handler(event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED ? .arrived(info) : .left(info))
    return 0  // stay registered
}
