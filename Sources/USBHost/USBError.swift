import CLibUSB

/// A libusb call that failed: which operation, and libusb's error code and text.
public struct USBError: Error, Equatable, Sendable, CustomStringConvertible {
    public let operation: String
    /// A `libusb_error` value (negative).
    public let code: Int32

    public init(_ operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    /// The device is gone (unplugged, or its driver unbound).
    public var isNoDevice: Bool { Int(code) == Int(LIBUSB_ERROR_NO_DEVICE.rawValue) }
    /// Another program (or a kernel driver that would not detach) holds it.
    public var isBusy: Bool { Int(code) == Int(LIBUSB_ERROR_BUSY.rawValue) }
    public var isAccessDenied: Bool { Int(code) == Int(LIBUSB_ERROR_ACCESS.rawValue) }

    public var description: String {
        "\(operation): \(String(cString: libusb_strerror(code))) (\(String(cString: libusb_error_name(code))))"
    }
}

/// Throws for a negative libusb return value; returns it otherwise.
@discardableResult
func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(USBError) -> Int32 {
    if rc < 0 { throw USBError(operation(), code: rc) }
    return rc
}
