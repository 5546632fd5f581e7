/// A device's speed as the kernel numbers it (`enum usb_device_speed` in
/// include/uapi/linux/usb/ch9.h), which is what USB/IP's `speed` field and vhci's
/// `attach` file carry.
public enum USBSpeed: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case unknown = 0
    case low = 1
    case full = 2
    case high = 3
    case wireless = 4
    case `super` = 5
    case superPlus = 6

    public var description: String {
        switch self {
        case .unknown: "unknown"
        case .low: "low (1.5 Mbit/s)"
        case .full: "full (12 Mbit/s)"
        case .high: "high (480 Mbit/s)"
        case .wireless: "wireless"
        case .super: "super (5 Gbit/s)"
        case .superPlus: "super+ (10 Gbit/s)"
        }
    }
}
