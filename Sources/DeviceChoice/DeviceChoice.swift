import USBIP

/// Which of a server's devices a laptop attaches. The user names devices, or asks for
/// every device the server offers now, or every device including ones plugged in later;
/// a keyboard is attached only when named, because anyone who plugs one into the
/// appliance would otherwise type on this laptop.
public struct DeviceChoice: Sendable {
    public enum Scope: Equatable, Sendable {
        /// The devices these selectors match, whenever the server offers them.
        case named([DeviceSelector])
        /// Every device the server offers at the first attach; those devices only, later.
        case everyDeviceNow
        /// Every device the server offers, now and later.
        case everyDeviceIncludingNew
        /// Both: the devices these selectors match (keyboards too), and every other device
        /// the server offers, now and later (the service's wishes for one server).
        case namedAndEveryDevice([DeviceSelector])
    }

    /// The choice a server's wishes make.
    public static func of(_ wishes: [Wish]) -> DeviceChoice {
        let selectors = wishes.compactMap { wish -> DeviceSelector? in
            if case .device(let selector) = wish.what { return selector }
            return nil
        }
        let everyDevice = wishes.contains { $0.what == .everyDeviceIncludingNew }
        return DeviceChoice(scope: everyDevice ? .namedAndEveryDevice(selectors) : .named(selectors))
    }

    /// A device, by where it is plugged in on the server and what it is.
    struct Pin: Hashable, Sendable {
        let busid: String
        let vendor: UInt16
        let product: UInt16

        init(_ device: ExportedDevice) {
            (busid, vendor, product) = (device.busid, device.idVendor, device.idProduct)
        }
    }

    public struct Decision: Equatable, Sendable {
        /// To attach (whether or not it is attached already).
        public var attach: [ExportedDevice] = []
        /// Offered, not attached, and why (for the user, once per device).
        public var skipped: [(device: ExportedDevice, reason: String)] = []

        public static func == (a: Decision, b: Decision) -> Bool {
            a.attach == b.attach && a.skipped.map(\.device) == b.skipped.map(\.device)
                && a.skipped.map(\.reason) == b.skipped.map(\.reason)
        }
    }

    public let scope: Scope
    /// For `everyDeviceNow`: the devices chosen at the first decision.
    private var pinned: Set<Pin>?

    public init(scope: Scope) { self.scope = scope }

    /// What to attach of what the server offers; `name` gives the server's name of a
    /// device by bus id. The first call of an `everyDeviceNow` choice fixes its devices.
    public mutating func decide(offered: [ExportedDevice], name: (String) -> String?) -> Decision {
        var decision = Decision()
        switch scope {
        case .named(let selectors):
            decision.attach = offered.filter { d in selectors.contains { $0.matches(d, name: name(d.busid)) } }
        case .namedAndEveryDevice(let selectors):
            for device in offered {
                if selectors.contains(where: { $0.matches(device, name: name(device.busid)) }) || !device.isKeyboard {
                    decision.attach.append(device)
                } else {
                    decision.skipped.append((device, Self.keyboardReason(device)))
                }
            }
        case .everyDeviceNow, .everyDeviceIncludingNew:
            var candidates = offered
            if scope == .everyDeviceNow {
                if let pinned {
                    candidates = offered.filter { pinned.contains(Pin($0)) }
                    for device in offered where !pinned.contains(Pin(device)) {
                        decision.skipped.append(
                            (
                                device,
                                "offered after the attach: new devices are attached only when named, or with "
                                    + "'attach --including-new'"
                            ))
                    }
                }
            }
            for device in candidates {
                if device.isKeyboard {
                    decision.skipped.append((device, Self.keyboardReason(device)))
                } else {
                    decision.attach.append(device)
                }
            }
            if pinned == nil, scope == .everyDeviceNow { pinned = Set(decision.attach.map(Pin.init)) }
        }
        return decision
    }
}

extension DeviceChoice {
    public static func keyboardReason(_ device: ExportedDevice) -> String {
        "a keyboard is attached only when named (attach \(vidPid(device.idVendor, device.idProduct)))"
    }
}

extension ExportedDevice {
    /// The device has a HID interface of the keyboard boot protocol (class 3, subclass 1,
    /// protocol 1; HID 1.11 §4.2-4.3). A keyboard that declares no boot interface is not
    /// recognised here: the device list carries interface triples, not report descriptors.
    public var isKeyboard: Bool {
        interfaces.contains { $0.bInterfaceClass == 3 && $0.bInterfaceSubClass == 1 && $0.bInterfaceProtocol == 1 }
    }
}

/// A device as the user names it: its bus id on the server, or its vendor and product.
public enum DeviceSelector: Equatable, Hashable, Sendable, CustomStringConvertible {
    case busid(String)
    case ids(vendor: UInt16, product: UInt16)
    /// Part of the name the server gives the device (any case): "sandisk", "Ultra".
    case name(String)

    /// A bus id or VID:PID; anything else is a name.
    public static func parse(_ text: String) -> DeviceSelector {
        DeviceSelector(text) ?? .name(text)
    }

    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 2, parts.allSatisfy({ $0.count == 4 }), let v = UInt16(parts[0], radix: 16),
            let p = UInt16(parts[1], radix: 16)
        {
            self = .ids(vendor: v, product: p)
        } else if !text.isEmpty, text.utf8.count < 32, text.contains("-"),
            text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-" || $0 == ".") })
        {
            self = .busid(text)
        } else {
            return nil
        }
    }

    /// Whether `device`, which the server calls `name` (if it names it), is this one.
    public func matches(_ device: ExportedDevice, name: String?) -> Bool {
        switch self {
        case .busid(let busid): device.busid == busid
        case .ids(let vendor, let product): device.idVendor == vendor && device.idProduct == product
        case .name(let text): name?.lowercased().contains(text.lowercased()) == true
        }
    }

    public var description: String {
        switch self {
        case .busid(let busid): busid
        case .ids(let vendor, let product): vidPid(vendor, product)
        case .name(let text): "named \"\(text)\""
        }
    }
}

/// VID:PID as the user types it, 046d:c52b.
func vidPid(_ vendor: UInt16, _ product: UInt16) -> String {
    func hex(_ value: UInt16) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }
    return "\(hex(vendor)):\(hex(product))"
}
