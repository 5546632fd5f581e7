import CLibUSB

/// The linked libusb. The USB host layer (enumeration, transfers, the pinned event
/// thread) grows here; this much reports what the binary was built against.
public enum LibUSB {
    /// e.g. "1.0.26.11724".
    public static var version: String {
        let v = libusb_get_version().pointee
        return "\(v.major).\(v.minor).\(v.micro).\(v.nano)"
    }
}
