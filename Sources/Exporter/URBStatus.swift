import USBHost

/// Linux errno values that USB/IP carries as URB status (negative), as the kernel's
/// usbip-host reports them for the same outcomes (include/uapi/asm-generic/errno*.h).
enum URBStatus {
    static let ok: Int32 = 0
    static let noEntry: Int32 = -2  // ENOENT: no such endpoint
    static let invalid: Int32 = -22  // EINVAL
    static let pipe: Int32 = -32  // EPIPE: endpoint stalled
    static let proto: Int32 = -71  // EPROTO: protocol error on the bus
    static let overflow: Int32 = -75  // EOVERFLOW: babble
    static let connectionReset: Int32 = -104  // ECONNRESET: unlinked
    static let shutdown: Int32 = -108  // ESHUTDOWN: device gone
    static let timedOut: Int32 = -110  // ETIMEDOUT
    static let remoteIO: Int32 = -121  // EREMOTEIO: short IN read with URB_SHORT_NOT_OK
    static let noMemory: Int32 = -12  // ENOMEM: over this import's share of usbfs memory

    static func of(_ status: USBTransferStatus) -> Int32 {
        switch status {
        case .completed: ok
        case .error: proto
        case .timedOut: timedOut
        case .cancelled: connectionReset
        case .stall: pipe
        case .noDevice: shutdown
        case .overflow: overflow
        }
    }

    /// A libusb error from a synchronous call, as a URB status.
    static func of(_ error: USBError) -> Int32 {
        if error.isNoDevice { return shutdown }
        switch error.code {
        case -9: return pipe  // LIBUSB_ERROR_PIPE
        case -2: return invalid  // LIBUSB_ERROR_INVALID_PARAM
        case -5: return noEntry  // LIBUSB_ERROR_NOT_FOUND
        default: return proto
        }
    }
}
