import ByteBuffers
import CLibUSB

#if canImport(Glibc)
    import Glibc
#endif

/// Transfer buffers usbfs maps into this process for one opened device
/// (`libusb_dev_mem_alloc`). A bulk transfer submitted from such a buffer is not copied
/// into a kernel buffer and back, and usbfs allocates nothing for it; the host controller
/// reads and writes the data where it lies. The source of a `BlockPool` that keeps them.
///
/// Whether the CPU may read them at full speed depends on the machine. Where DMA is cache
/// coherent (x86) usbfs maps ordinary cached memory. Where it is not (the Raspberry Pi's
/// USB controllers), it maps the buffers uncached, and CPU reads of them became many
/// times slower (raspberrypi/linux issue 3818: librtlsdr's IN streams on a Pi 4 after
/// 5.4.42); writes into such memory are combined and stay fast. So IN transfers use
/// them only where `inTransfersReadCached`; OUT transfers, which the CPU only writes
/// into, use them everywhere.
struct DeviceMemory: BlockSource, @unchecked Sendable {
    let handle: OpaquePointer
    let context: USBContext

    #if arch(x86_64)
        static let inTransfersReadCached = true
    #else
        static let inTransfersReadCached = false
    #endif

    /// Mapped buffers per device, at most: usbfs counts them against its limit for the
    /// whole machine (`usbfs_memory_mb`, 16 MiB by default), with every other transfer.
    static let budget = 1 << 20
    /// Smaller transfers copy little and stay on the heap.
    static let smallest = 4096

    static let granule: Int = {
        let size = sysconf(Int32(_SC_PAGESIZE))
        return size > 0 ? Int(size) : 4096
    }()

    func take(_ count: Int) -> UnsafeMutableRawPointer? {
        libusb_dev_mem_alloc(handle, count).map { UnsafeMutableRawPointer($0) }
    }

    func give(_ pointer: UnsafeMutableRawPointer, _ count: Int) {
        _ = libusb_dev_mem_free(handle, pointer.assumingMemoryBound(to: UInt8.self), count)
    }

    /// The device is closed only now: a mapping keeps usbfs's file open anyway. This runs
    /// on the thread that let go of the last buffer: on the USB thread (a transfer's
    /// completion) the close is queued (`USBContext.close`); elsewhere libusb_close waits
    /// for the event lock, so that thread must not hold a lock another device's
    /// completion takes. Replies hold buffers only under their own import's locks: the
    /// session copies a reply's data into its frames on the USB thread, and plain
    /// USB/IP's writer queue copies what it keeps (`ReplyWriter.joined`). A plain USB/IP
    /// reader filling an OUT URB's buffer lets go of it under its connection's lock only
    /// while the import is live (the device not closing), else with no lock held.
    func closed() { context.close(handle) }
}
