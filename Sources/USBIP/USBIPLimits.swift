/// Bounds applied to sizes and counts read from the network before anything is
/// allocated or waited for. A value beyond a bound is an error, never a large allocation.
public struct USBIPLimits: Equatable, Sendable {
    /// Largest transfer_buffer_length (and actual_length) accepted. USB/IP has no bound
    /// of its own; Linux bounds all of a process's usbfs buffers together by 16 MiB
    /// (usbfs_memory_mb), so one URB above 8 MiB is taken as hostile.
    public var maxTransferBufferLength: UInt32
    /// Largest number_of_packets of an iso URB (USBIP_MAX_ISO_PACKETS in the kernel
    /// driver's drivers/usb/usbip/usbip_common.h is 1024).
    public var maxISOPackets: UInt32
    /// Largest device list accepted by a client.
    public var maxDevices: UInt32

    public init(maxTransferBufferLength: UInt32 = 8 << 20, maxISOPackets: UInt32 = 1024, maxDevices: UInt32 = 256) {
        self.maxTransferBufferLength = maxTransferBufferLength
        self.maxISOPackets = maxISOPackets
        self.maxDevices = maxDevices
    }

    public static let `default` = USBIPLimits()
}
